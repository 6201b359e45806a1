"""Answers anonymous GETs from the shared cache before routing, and fills it.

A hit costs one Redis round trip and no database, route or validation work: the stored
body with its headers, or a 304 when the client's validator matches. A miss runs the
route, which concludes with the state its response was built from (`http.conclude`) and
whether the request is the canonical spelling of one page (`request_key.sharing`); a
public 200 of at most `shared_cache_max_response_bytes` is then stored with that state.
"""

import asyncio
import contextlib
from email.utils import parsedate_to_datetime

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.caching.http import Validators, rendering_of
from app.caching.request_key import Sharing, lookup_key
from app.caching.shared import CachedResponse, SharedCache

# Headers a 304 repeats from the stored response (RFC 9110 §15.4.5).
NOT_MODIFIED_HEADERS = frozenset({b"cache-control", b"etag", b"last-modified", b"vary"})
RENDER_WAIT_SECONDS = 5.0
CONDITIONAL_HEADERS = frozenset({b"if-none-match", b"if-modified-since"})
# A key of the request state, for the request log: how the shared cache took part. `hit`
# answered from Redis; `miss` rendered (and perhaps stored); `bypass` not shareable (not a
# GET, or a caller with a key); `none` no shared cache configured.
CACHE_OUTCOME = "tickerfeed.cache"
HIT, MISS, BYPASS, NO_CACHE = "hit", "miss", "bypass", "none"


def is_anonymous(scope: Scope) -> bool:
    """A caller with a key (header or `?key=`) gets private answers; they are never shared."""
    if any(name == b"authorization" for name, _ in scope["headers"]):
        return False
    query = scope["query_string"]
    return not (query.startswith(b"key=") or b"&key=" in query)


class SharedCacheMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Requests being answered in this process, by request key: after a write, concurrent
        # requests for one page wait for one render and then read it from Redis.
        self.leading: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state if scope["type"] == "http" else None
        cache: SharedCache | None = state.content_cache.shared if state is not None else None
        key = lookup_key(scope, state.settings) if cache is not None else None
        if key is None or scope["method"] != "GET" or not is_anonymous(scope):
            if cache is not None:
                scope["state"][CACHE_OUTCOME] = BYPASS
            await self.app(scope, receive, send)
            return
        # The first request for a page in this process leads until it has answered; one that
        # comes meanwhile and misses waits for it, then reads the page from Redis. Taken
        # before the look-up, so a follower whose look-up predates the leader's store waits too.
        leader = self.leading.get(key)
        if leader is None:
            done = self.leading[key] = asyncio.Event()
        try:
            await self._answer_from_cache_or_render(scope, receive, send, cache, key, leader)
        finally:
            if leader is None:
                del self.leading[key]
                done.set()

    async def _answer_from_cache_or_render(
        self, scope: Scope, receive: Receive, send: Send, cache: SharedCache, key: str,
        leader: asyncio.Event | None,
    ) -> None:
        clock = scope["app"].state.clock
        found = await cache.lookup(key, now=clock())
        if found is None and leader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leader.wait(), RENDER_WAIT_SECONDS)
            found = await cache.lookup(key, now=clock())
        if found is not None:
            scope["state"][CACHE_OUTCOME] = HIT
            await self._answer(scope, send, found)
            return
        scope["state"][CACHE_OUTCOME] = MISS
        await self._run_and_store(scope, receive, send, cache, key)

    async def _answer(self, scope: Scope, send: Send, cached: CachedResponse) -> None:
        etag = cached.header(b"etag")
        conditional = any(name in CONDITIONAL_HEADERS for name, _ in scope["headers"])
        if conditional and etag is not None:
            last_modified = cached.header(b"last-modified")
            moment = parsedate_to_datetime(last_modified) if last_modified else None
            if Validators(etag, moment).is_fresh_for(Request(scope)):
                headers = [(name, value) for name, value in cached.headers if name in NOT_MODIFIED_HEADERS]
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": 200, "headers": cached.headers})
        await send({"type": "http.response.body", "body": cached.body})

    async def _run_and_store(self, scope: Scope, receive: Receive, send: Send, cache: SharedCache, key: str) -> None:
        max_stored_body = scope["app"].state.settings.shared_cache_max_response_bytes
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal status, headers, size
            if message["type"] == "http.response.start":
                # Copied before sending: outer middleware add per-request headers in place.
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body" and size <= max_stored_body:
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
            await send(message)

        await self.app(scope, receive, capture)
        rendering = rendering_of(scope)
        if status != 200 or rendering is None or rendering.state is None or size > max_stored_body:
            return
        cache_control = next((value for name, value in headers if name == b"cache-control"), b"")
        if rendering.sharing is not Sharing.NONE and cache_control.startswith(b"public"):
            response = CachedResponse(headers=headers, body=b"".join(chunks))
            await cache.store(key, rendering.state, response, pooled=rendering.sharing is Sharing.FREE_TEXT)

