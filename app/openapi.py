"""The OpenAPI description as generated clients need it."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.problems import PROBLEM_MEDIA_TYPE

FASTAPI_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"
VALIDATION_PROBLEM = "#/components/schemas/ValidationProblemDocument"
PROBLEM = "#/components/schemas/ProblemDocument"


def _problems_as_problem_json(schema: dict[str, Any]) -> None:
    """Error responses are served as `application/problem+json` (RFC 9457), so say so, and
    replace FastAPI's default validation error shape with the one actually sent."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith(("4", "5")):
                    continue
                content = response.get("content", {})
                body = content.pop("application/json", None) or content.get(PROBLEM_MEDIA_TYPE) or {}
                if body.get("schema", {}).get("$ref") == FASTAPI_VALIDATION_ERROR:
                    body = {"schema": {"$ref": VALIDATION_PROBLEM}}
                response["content"] = {PROBLEM_MEDIA_TYPE: body}
            if operation.get("security") and "401" not in operation["responses"]:
                # Any operation that reads a key answers 401 to a key that is sent but wrong.
                operation["responses"]["401"] = {
                    "description": "Unauthorized",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM}}},
                }
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _problems_as_problem_json(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
