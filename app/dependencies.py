"""Dependencies shared by routes of several resources."""

from datetime import datetime

from fastapi import Depends, Request

from app.problems import UnsupportedMediaType


async def require_json_body(request: Request) -> None:
    """415 for a body that is not JSON, instead of a confusing validation error."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType("Send the body as `application/json`.")


JSON_BODY = Depends(require_json_body)


async def get_clock(request: Request) -> datetime:
    """The request's "now": scheduled articles become visible when it passes.
    It is the app's `state.clock`, which tests replace to move time, and which the
    shared cache middleware reads too. Async on purpose: FastAPI runs a plain `def`
    dependency in the thread pool, a thread hop on every request."""
    return request.app.state.clock()
