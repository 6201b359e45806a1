"""RFC 9457 problem details: the one error shape every response uses."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.sql import is_database_unreachable

logger = logging.getLogger("tickerfeed")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemDocument(BaseModel):
    """An RFC 9457 problem: `type` is a URI naming the kind of problem."""

    type: str = Field(examples=["/problems/not-found"])
    title: str
    status: int
    detail: str
    request_id: str | None = None


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str


class ValidationProblemDocument(ProblemDocument):
    errors: list[FieldError]


class Problem(Exception):
    """An error a client can act on, raised anywhere below a route."""

    status = HTTPStatus.BAD_REQUEST
    kind = "bad-request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def title(self) -> str:
        return self.status.phrase

    def extra(self) -> dict[str, Any]:
        return {}


class NotFound(Problem):
    status = HTTPStatus.NOT_FOUND
    kind = "not-found"


class Conflict(Problem):
    status = HTTPStatus.CONFLICT
    kind = "conflict"


class InvalidCursor(Problem):
    kind = "invalid-cursor"


class ResyncRequired(Problem):
    """A changes cursor from before the pruned horizon: changes it would need are gone."""

    status = HTTPStatus.GONE
    kind = "resync-required"


class Unauthorized(Problem):
    status = HTTPStatus.UNAUTHORIZED
    kind = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="tickerfeed"'})


class Forbidden(Problem):
    status = HTTPStatus.FORBIDDEN
    kind = "forbidden"


class RateLimited(Problem):
    status = HTTPStatus.TOO_MANY_REQUESTS
    kind = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(Problem):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    kind = "unavailable"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class BodyTooLarge(Problem):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    kind = "body-too-large"


class UnsupportedMediaType(Problem):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    kind = "unsupported-media-type"


class InvalidFields(Problem):
    """Field errors found by a service, reported in the same shape as request validation."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    kind = "validation-error"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("The request has invalid fields; see `errors`.")
        self.errors = errors

    @classmethod
    def one(cls, loc: list[str | int], msg: str) -> "InvalidFields":
        return cls([FieldError(loc=loc, msg=msg)])

    def extra(self) -> dict[str, Any]:
        return {"errors": [error.model_dump() for error in self.errors]}


def problem_body(
    status: int, detail: str, *, kind: str | None, request_id: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The one shape of every problem document (RFC 9457), whoever sends it."""
    body: dict[str, Any] = {
        "type": f"/problems/{kind}" if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **(extra or {}),
    }
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(status, detail, kind=kind, request_id=getattr(request.state, "request_id", None), extra=extra)
    # Errors are never stored: RFC 9111 lets caches keep a 404 heuristically, which would hide
    # an article published a moment later, and errors to a key or token holder are private.
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request, exc.status, exc.detail, kind=exc.kind, headers=exc.headers, extra=exc.extra()
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(error["loc"]), "msg": error["msg"]} for error in exc.errors()]


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(error["type"] == "json_invalid" for error in exc.errors()):
        return problem_response(
            request, 400, "The request body is not valid JSON.", kind="malformed-json"
        )
    return problem_response(
        request,
        422,
        "The request has invalid fields; see `errors`.",
        kind="validation-error",
        extra={"errors": _field_errors(exc)},
    )


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    details = {
        404: "No resource at this path.",
        405: f"{request.method} is not allowed on this path.",
    }
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI turns body parse failures other than JSONDecodeError (nesting too deep,
        # a number too long to convert) into a bare 400; they are malformed JSON too.
        return problem_response(
            request, 400, "The request body is not valid JSON.", kind="malformed-json"
        )
    detail = details.get(exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(request, exc.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path (RFC 9110 §15.5.6). Starlette names only
    the methods of the first route whose path matched, e.g. `GET` but not `POST`; asking
    the router about each method finds routes in included routers too."""
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(
            # HeadAsGetMiddleware answers HEAD wherever GET is routed.
            route.matches({**request.scope, "method": "GET" if method == "HEAD" else method})[0]
            is Match.FULL
            for route in request.app.router.routes
        )
    ]


async def handle_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A safety net: services check uniqueness first, but two concurrent writes can still race.
    # Logged by constraint, without the error's text: PostgreSQL's detail quotes the row's
    # values (an address, say), and so would a traceback (issue 10, item 10).
    logger.warning(
        "integrity error turned into 409 in request %s: %s",
        getattr(request.state, "request_id", "-"),
        _violated_constraint(exc),
    )
    return problem_response(
        request, 409, "The change conflicts with data already stored.", kind="conflict"
    )


def _violated_constraint(exc: Exception) -> str:
    driver_error = getattr(exc, "orig", None)
    # asyncpg's error, under SQLAlchemy's adapter, names the constraint; SQLite's message
    # names table and column and never a value.
    asyncpg_error = getattr(driver_error, "__cause__", None)
    name = getattr(asyncpg_error, "constraint_name", None)
    if name:
        return str(name)
    return str(driver_error) if driver_error is not None and "sqlite" in type(driver_error).__module__ else type(exc).__name__


DATABASE_RETRY_AFTER_SECONDS = 2


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """A 503 problem when the database cannot be reached (the request's transaction never
    committed, so nothing was written), else the 500 of any unexpected error. Registered for
    the error classes themselves, so Starlette answers here and does not re-raise."""
    if not is_database_unreachable(exc):
        return await handle_unexpected_error(request, exc)
    request_id = getattr(request.state, "request_id", "-")
    logger.warning("database unreachable in request %s: %s", request_id, type(exc).__name__)
    return problem_response(
        request, 503, "The database does not answer; try again shortly.", kind="unavailable",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    logger.error("unhandled error in request %s", request_id, exc_info=exc)
    response = problem_response(
        request, 500, "An unexpected error occurred; quote the request id when reporting it."
    )
    # Starlette sends this response from outside every middleware, so set the id here.
    response.headers["X-Request-ID"] = request_id
    return response


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, handle_problem)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(IntegrityError, handle_integrity_error)
    for error in (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError):
        app.add_exception_handler(error, handle_database_error)
    app.add_exception_handler(Exception, handle_unexpected_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting a route's problems for generated clients."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationProblemDocument if status == 422 else ProblemDocument
        documented[status] = {
            "model": model,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
    return documented
