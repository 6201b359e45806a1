"""Absolute links to this API, always on `PUBLIC_API_URL`.

Never on the request's `Host` header or scheme: the client chooses both, and responses
that embed them are cached publicly, so one request with `Host: evil.example` would hand
its links to every later reader (issue 10, item 7).
"""

from fastapi import Request
from starlette.datastructures import URL


def api_url(request: Request, path: str) -> str:
    """`path` (from the API root, with its leading `/`) as an absolute URL."""
    return request.app.state.settings.api_url + path


def requested_url(request: Request) -> URL:
    """The request's own path and query string, on the public API URL."""
    return URL(api_url(request, request.url.path)).replace(query=request.url.query)
