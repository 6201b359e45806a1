"""Every request, seen whole once (issue 13, items 3 and 4): counted in the metrics and
written as one log line, after every other middleware has had its say (limit refusals,
CORS, shared-cache hits that never reach a route, 500s raised through the stack).

Requests are named by route template (`/v1/articles/{slug}`), found in the scope when the
request was routed and by matching the app's routes when it was not (a cache hit, a HEAD
answered as GET); a path no route knows is `unmatched`. The log line keeps the path
without its query string: `?token=` and `?key=` never reach it.
"""

import logging
import re
import time
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.caching.middleware import CACHE_OUTCOME, NO_CACHE
from app.metrics import UNMATCHED_ROUTE, count_request

logger = logging.getLogger("tickerfeed.requests")


class RouteTable:
    """The app's route templates with their patterns, in routing order, built on first use
    (every route is added by then). For requests that were not routed, or routed in a copy
    of the scope (`HeadAsGetMiddleware` passes one on)."""

    def __init__(self) -> None:
        self.routes: list[tuple[re.Pattern[str], set[str] | None, str]] | None = None

    def build(self, app: Any) -> list[tuple[re.Pattern[str], set[str] | None, str]]:
        return [
            (context.path_regex, context.methods, context.path_format)
            for context in iter_route_contexts(app.routes)
            if getattr(context, "path_regex", None) is not None and context.path_format
        ]

    def template(self, scope: Scope) -> str:
        # The routed route's own path is its template: routers carry their prefixes and are
        # included without one (app/main.py), so it equals the table's.
        route = scope.get("route")
        if route is not None:
            return str(route.path)
        if self.routes is None:
            self.routes = self.build(scope["app"])
        path, method = scope["path"], scope["method"]
        method = "GET" if method == "HEAD" else method
        partial = None
        for pattern, methods, template in self.routes:
            if pattern.match(path):
                if methods is None or method in methods:
                    return template
                partial = partial or template
        return partial or UNMATCHED_ROUTE


class RequestObservationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route_table = RouteTable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # What the client gets when an exception escapes before the response started:
        # Starlette's outermost error middleware answers 500.
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            route = self.route_table.template(scope)
            count_request(route, scope["method"], status, seconds)
            log_request(scope, route, status, seconds)


def log_request(scope: Scope, route: str, status: int, seconds: float) -> None:
    state = scope.get("state", {})
    fields = {
        "request_id": state.get("request_id"),
        "method": scope["method"],
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "cache": state.get(CACHE_OUTCOME, NO_CACHE),
    }
    logger.info(
        "%s %s %s %.1f ms cache=%s id=%s", fields["method"], fields["path"], status, fields["duration_ms"],
        fields["cache"], fields["request_id"], extra={"request": fields},
    )
