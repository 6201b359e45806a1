"""The app as `tickerfeed serve` builds it, counting the GETs its shared cache answered (W8).

A hit goes out with exactly the headers of the stored response, so nothing on the wire
tells it from a miss, and Redis' own counters are server-wide and also count the state
look-up every request makes. So this factory counts, inside the server, the calls of the
method that answers from the cache (`SharedCacheMiddleware._answer`: a stored 200, or a
304 when the client's validator matches) and every anonymous GET, and answers
`GET /__bench/cache` with both. If the cache is reworked and that method is gone, it
reports `hits: null` and the harness falls back on Redis' keyspace counters.
"""

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.main import create_app as create_tickerfeed_app

PROBE_PATH = "/__bench/cache"


class Counts:
    def __init__(self) -> None:
        self.gets = 0
        self.hits: int | None = None


def _count_hits(counts: Counts) -> None:
    try:
        from app.caching.middleware import SharedCacheMiddleware
    except ImportError:
        return
    answer = getattr(SharedCacheMiddleware, "_answer", None)
    if answer is None:
        return
    counts.hits = 0

    async def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        counts.hits += 1  # type: ignore[operator]
        await answer(self, *args, **kwargs)

    # Patched on the class before the first request builds the middleware stack; this
    # process serves nothing else.
    SharedCacheMiddleware._answer = counted  # type: ignore[method-assign]


def create_app() -> ASGIApp:
    counts = Counts()
    _count_hits(counts)
    app = create_tickerfeed_app()

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == PROBE_PATH:
                body = json.dumps({"gets": counts.gets, "hits": counts.hits}).encode()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
            # Only anonymous GETs (and HEADs, answered as GETs) may be served from the cache.
            anonymous = not any(name == b"authorization" for name, _ in scope["headers"])
            if scope["method"] in ("GET", "HEAD") and anonymous:
                counts.gets += 1
        await app(scope, receive, send)

    return probe
