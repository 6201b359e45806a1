"""The OpenAPI description as generated clients need it (issue 11).

FastAPI's own document says what the routes declare. The passes below add what the
server does around them, so that a client generated from it is usable as is: which
operations need a key (the rest say `security: []`, which openapi-python-client reads
as "either client"), every problem the middleware can answer, and the bodies routes read
by hand, as named schemas.
"""

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.caching.http import NO_STORE
from app.feeds.jsonfeed import JsonFeed
from app.problems import PROBLEM_MEDIA_TYPE
from app.subscriptions.schemas import OneClickUnsubscribeForm, UnsubscribeRequest

FASTAPI_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"
VALIDATION_PROBLEM = "#/components/schemas/ValidationProblemDocument"
PROBLEM = "#/components/schemas/ProblemDocument"
REQUIRED_SCOPE = "required_scope"
READER_SESSION = "reader_session"  # app.readers.dependencies
SIGN_IN = "a reader session: `Authorization: Bearer <session_token>` from `POST /v1/readers/sign-in/confirm`"

DESCRIPTION = (
    "Markets news for sites, apps and partners: articles tied to the tickers they cover, "
    "their authors (journalists and AI writing agents), tags, newsletters and syndication feeds.\n\n"
    "Reads are public: an operation with `security: []` answers without a key. A key sent "
    "anyway must be valid (a 401 otherwise), and adds something only where the operation says "
    "so: drafts for editors (`content:write`), full text in feeds (`feeds:full`). Writes need "
    "`Authorization: Bearer <key>` with the scope each names. Errors are RFC 9457 problem "
    "documents (`application/problem+json`); every response carries `X-Request-ID`."
)
TAGS = [
    {"name": "Discovery", "description": "Every entry point and feed URL, absolute."},
    {"name": "Articles", "description": "The feed, article pages and related articles; writes need `content:write`."},
    {"name": "Authors", "description": "Journalists and AI writing agents, with their articles."},
    {"name": "Tickers", "description": "Stocks, crypto and other instruments, found by symbol or alias."},
    {"name": "Tags", "description": "Topics such as AI, Earnings or Policy."},
    {"name": "Changes", "description": "Every change partners mirror, in order (`feeds:full`)."},
    {"name": "Stream", "description": "Published changes as Server-Sent Events, live and resumable (public)."},
    {"name": "Feeds", "description": "RSS 2.0, Atom 1.0 and JSON Feed 1.1; full text with a `feeds:full` key."},
    {"name": "Newsletters", "description": "Newsletters and their daily editions."},
    {"name": "Subscriptions", "description": "Double opt-in, preferences with a manage token, one-click unsubscribe."},
    {"name": "Subscribers", "description": "The subscriber list and its CSV export (`subscribers:read`)."},
    {"name": "Comments", "description": "Readers' comments under articles; writes need a reader session, moderation `comments:moderate`."},
    {"name": "Readers", "description": "Passwordless sign-in by mailed link, reader sessions, profile and erasure."},
    {"name": "API keys", "description": "Keys and their scopes (`admin`)."},
    {"name": "Webhooks", "description": "Signed events of the changes log, pushed to partners' endpoints (`admin`)."},
    {"name": "Operations", "description": "Liveness and readiness probes."},
]
CONTACT = {"name": "tickerfeed maintainers"}
# The repository carries no licence grant: all rights reserved until it says otherwise.
LICENSE = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}

# Bodies no route declares as a model: the one-click unsubscribe body is read by hand
# (RFC 8058), and the feeds and the CSV export are rendered, not serialized.
MODELS_OUTSIDE_ROUTES: list[type[BaseModel]] = [UnsubscribeRequest, OneClickUnsubscribeForm, JsonFeed]
TEXT_SCHEMAS = {
    "RssFeed": {"type": "string", "description": "An RSS 2.0 document."},
    "AtomFeed": {"type": "string", "description": "An Atom 1.0 (RFC 4287) document."},
    "SubscribersCsv": {"type": "string", "description": "RFC 4180 CSV with a header row."},
    # One event of the stream, as an SSE client parses it (schemathesis validates each).
    "EventStream": {
        "type": "object",
        "description": "Server-Sent Events (`text/event-stream`): `id:`, `event:` and `data:` lines per event, "
        "a blank line after each; comment lines start with `:`. This schema is one parsed event.",
        "properties": {
            "id": {"type": "string", "description": "The change's `seq`: send it back as `Last-Event-ID`."},
            "event": {"type": "string", "description": "The change's type, or `error` before the server closes."},
            "data": {"type": "string", "description": "JSON: the article's card, `{id, slug}`, or `{reason}`."},
        },
    },
}

# What any operation can answer before its route runs (app.middleware, app.problems).
EVERY_OPERATION_PROBLEMS = {
    400: "Bad Request: an invalid `Content-Length`, malformed JSON, or a cursor this API did not write.",
    413: "Content Too Large: the body exceeds `MAX_BODY_BYTES` (1 MiB by default).",
    414: "URI Too Long: the path exceeds `MAX_PATH_BYTES` (1024 bytes by default) or the query string `MAX_QUERY_STRING_BYTES` (4096).",
    500: "Internal Server Error: unexpected; quote the `request_id` when reporting it.",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}}
}


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, ref: str = PROBLEM) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": ref}}}}


def _problems_as_problem_json(schema: dict[str, Any]) -> None:
    """Error responses are served as `application/problem+json` (RFC 9457), so say so, and
    replace FastAPI's default validation error shape with the one actually sent."""
    for operation in _operations(schema):
        for status, response in operation.get("responses", {}).items():
            if not status.startswith(("4", "5")):
                continue
            content = response.get("content", {})
            # FastAPI documents a problem's model under the route's own media type (JSON,
            # or `text/event-stream` for the stream).
            moved = [content.pop(media) for media in list(content) if media != PROBLEM_MEDIA_TYPE]
            body = next((found for found in moved if found.get("schema")), None) or content.get(PROBLEM_MEDIA_TYPE) or {}
            if body.get("schema", {}).get("$ref") == FASTAPI_VALIDATION_ERROR:
                body = {"schema": {"$ref": VALIDATION_PROBLEM}}
            response["content"] = {PROBLEM_MEDIA_TYPE: body}
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path in schema.get("paths", {}).values():
        yield from path.values()


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _route_operations(app: FastAPI, schema: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each route as FastAPI documents it (with the dependencies of the routers that
    include it), and its operation."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                yield route, schema["paths"][route.path_format][method.lower()]


def _append(operation: dict[str, Any], sentence: str) -> None:
    operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{sentence}".lstrip()


def _declare_security(route: Any, operation: dict[str, Any]) -> None:
    """FastAPI lists every scheme a route reads, also the optional key of public reads.
    Only a route that cannot answer without one keeps its scheme; the others say `[]`."""
    read = {name for requirement in operation.get("security", []) for name in requirement}
    scopes = [getattr(call, REQUIRED_SCOPE) for call in _calls(route.dependant) if hasattr(call, REQUIRED_SCOPE)]
    sessions = {getattr(call, READER_SESSION) for call in _calls(route.dependant) if hasattr(call, READER_SESSION)}
    if "or_moderator" in sessions:
        operation["security"] = [{"ReaderSession": []}, {"HTTPBearer": []}]
        _append(operation, f"Needs {SIGN_IN}, or an API key with the `comments:moderate` scope.")
        scopes = ["comments:moderate"]
    elif "required" in sessions and not scopes:
        operation["security"] = [{"ReaderSession": []}]
        _append(operation, f"Needs {SIGN_IN}.")
    elif scopes:
        also = "" if scopes[0] == "admin" else " (an `admin` key has every scope)"
        _append(operation, f"Needs an API key with the `{scopes[0]}` scope{also}.")
    elif "ManageToken" in read:
        _append(operation, "Needs a subscriber token: `Authorization: Bearer <token>` or `?token=`.")
    else:
        operation["security"] = []
        if "optional" in sessions:
            _append(operation, f"Public: no key needed. With {SIGN_IN}, the reader's own pending comments too (a private answer).")
        elif read:
            _append(operation, "Public: no key needed. A key sent anyway must be valid (401 otherwise).")
        else:
            _append(operation, "Public: no key needed.")
    responses = operation["responses"]
    if read:
        # Any operation that reads a key answers 401 to a key that is sent but wrong.
        responses.setdefault("401", _problem("Unauthorized"))
        responses["401"]["headers"] = {
            "WWW-Authenticate": {"description": "The scheme to use (RFC 9110 §11.6.1).", "schema": {"type": "string"}}
        }
    if scopes:
        responses.setdefault("403", _problem("Forbidden: the key lacks the scope."))


def _document_every_problem(route: Any, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    if route.methods & {"GET"} and any(
        getattr(call, "http_cache_policy", NO_STORE) is not NO_STORE for call in _calls(route.dependant)
    ):
        responses.setdefault("304", {"description": "Not Modified: the copy named by `If-None-Match` is current."})
    for status, description in EVERY_OPERATION_PROBLEMS.items():
        responses.setdefault(str(status), _problem(description))
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("422", _problem("Unprocessable Content", VALIDATION_PROBLEM))
    for status in ("429", "503"):
        if status in responses:
            responses[status]["headers"] = RETRY_AFTER
    operation["responses"] = dict(sorted(responses.items()))


def _add_component_schemas(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, definitions = models_json_schema(
        [(model, "serialization") for model in MODELS_OUTSIDE_ROUTES],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    components.update(definitions.get("$defs", {}))
    components.update(TEXT_SCHEMAS)
    schema["components"]["schemas"] = dict(sorted(components.items()))


def server_url(public_api_url: str) -> str:
    """The API root relative to the host: `/docs` then calls the host and port it was
    loaded from (a second local server on another port, say), and a deployment under a
    path prefix keeps it. Absolute URLs would also vary the committed file by setting."""
    return urlsplit(public_api_url).path.rstrip("/") or "/"


def build_openapi(app: FastAPI, *, public_api_url: str) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
        servers=[{"url": server_url(public_api_url), "description": "The API root on the host serving this document."}],
        contact=CONTACT,
        license_info=LICENSE,
    )
    _problems_as_problem_json(schema)
    for route, operation in _route_operations(app, schema):
        _declare_security(route, operation)
        _document_every_problem(route, operation)
        _only_the_declared_schema(operation)
    _add_component_schemas(schema)
    return schema


def _only_the_declared_schema(operation: dict[str, Any]) -> None:
    """FastAPI merges a response class's default schema (`type: string`) into a declared
    `$ref` beside it; in OpenAPI 3.1 both apply, which no event stream satisfies."""
    for response in operation.get("responses", {}).values():
        for media in response.get("content", {}).values():
            schema = media.get("schema", {})
            if "$ref" in schema:
                media["schema"] = {"$ref": schema["$ref"]}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, public_api_url=app.state.settings.api_url)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

