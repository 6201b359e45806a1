"""Conditional GET for every read: validators, Cache-Control, Vary and 304s.

Each GET route declares `dependencies=[http_cache(POLICY)]`, which authenticates the
caller and notes the policy. The validators come from the content state the response is
built from (`state.py`), read in the same statement as its rows: the route hands that
state to `conclude`, which answers a matching `If-None-Match` / `If-Modified-Since` with
a 304 before anything is serialized (RFC 9110 §13, RFC 9111 §5.2). A route that shows
no articles names its keys in `http_cache(…, depends_on=…)` and is concluded before it
runs, after one small query.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response

from app.api_keys.dependencies import OptionalApiKey
from app.caching.keys import COUNTS
from app.caching.request_key import Sharing, query_pairs, sharing
from app.caching.state import REPRESENTATION_REVISION, ContentState, read_state
from app.dependencies import get_clock

PRIVATE = "private, no-store"
# Where a request keeps its `Rendering`, in the ASGI scope's state.
RENDERING = "tickerfeed.rendering"


@dataclass(frozen=True)
class CachePolicy:
    kind: str
    cache_control: str


LIST = CachePolicy("list", "public, max-age=30, stale-while-revalidate=300")
FEED = CachePolicy("feed", "public, max-age=30, stale-while-revalidate=300")
ITEM = CachePolicy("item", "public, max-age=120, stale-while-revalidate=600")
DISCOVERY = CachePolicy("discovery", "public, max-age=3600")
# Health checks and key management: never stored, never revalidated, no database read.
NO_STORE = CachePolicy("no-store", "no-store")


@dataclass(frozen=True)
class Audience:
    """Who the representation is for: part of the ETag, and `private` keeps it out of
    shared caches (an editor's draft, a partner's full-text feed)."""

    variant: str
    private: bool


PUBLIC = Audience(variant="public", private=False)


async def bearer_audience(api_key: OptionalApiKey) -> Audience:
    """A bearer key is checked before any 304: a bad key is a 401 even with a matching ETag."""
    if api_key is None:
        return PUBLIC
    return Audience(variant=f"key:{api_key.id}", private=True)


class NotModified(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


async def handle_not_modified(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotModified)
    # RFC 9110 §15.4.5: a 304 repeats the validators and caching headers, with no body.
    return Response(status_code=304, headers=exc.headers)


def add_conditional_get(app: FastAPI) -> None:
    app.add_exception_handler(NotModified, handle_not_modified)


@dataclass(frozen=True)
class Validators:
    etag: str
    last_modified: datetime | None

    @property
    def last_modified_http(self) -> str | None:
        if self.last_modified is None:
            return None
        return format_datetime(self.last_modified.replace(microsecond=0), usegmt=True)

    def is_fresh_for(self, request: Request) -> bool:
        """True when the client's copy is current. If-None-Match wins over
        If-Modified-Since when both are sent (RFC 9110 §13.2.2)."""
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None:
            return any(weak_equal(tag, self.etag) for tag in if_none_match.split(","))
        if_modified_since = request.headers.get("if-modified-since")
        if if_modified_since is None or self.last_modified is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return self.last_modified.replace(microsecond=0) <= since
        except (TypeError, ValueError, IndexError, OverflowError):
            return False  # RFC 9110 §13.1.3: an invalid date is ignored


def weak_equal(candidate: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §8.8.3.2). `*` is not honoured: for a GET it would turn
    any request, even one with invalid parameters, into a 304."""
    return candidate.strip().removeprefix("W/") == etag.removeprefix("W/")


def compute_validators(
    request: Request, state: ContentState, *, kind: str, audience: Audience
) -> Validators:
    query = query_pairs(request.scope["query_string"])
    seed = json.dumps(
        [
            REPRESENTATION_REVISION,
            state.token,
            # Canonical links use the site URL; self links and `GET /v1` use the API's own.
            request.app.state.settings.site_url,
            request.app.state.settings.api_url,
            request.url.path,
            query,
            kind,
            audience.variant,
        ],
        separators=(",", ":"),
    )
    digest = hashlib.sha256(seed.encode()).hexdigest()[:32]
    # Weak: equal validators promise the same content, not the same bytes (compression).
    return Validators(etag=f'W/"{digest}"', last_modified=state.last_modified)


def caching_headers(
    policy: CachePolicy, audience: Audience, validators: Validators
) -> dict[str, str]:
    headers = {
        "Cache-Control": PRIVATE if audience.private else policy.cache_control,
        "ETag": validators.etag,
    }
    if validators.last_modified_http:
        headers["Last-Modified"] = validators.last_modified_http
    return headers


def _set_headers(response: Response, headers: dict[str, str]) -> None:
    for name, value in headers.items():
        response.headers[name] = value
    # Anonymous and keyed callers get different answers from the same URL; a shared
    # cache must not hand one the other's (RFC 9110 §12.5.5).
    response.headers.add_vary_header("Authorization")


async def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = NO_STORE.cache_control


_no_store.http_cache_policy = NO_STORE  # type: ignore[attr-defined]


@dataclass
class Rendering:
    """How this request's response is cached: the route's policy and caller, then the
    state it was built from. The shared cache middleware stores the response under it."""

    policy: CachePolicy
    audience: Audience
    state: ContentState | None = None
    sharing: Sharing = Sharing.NONE


def rendering_of(scope: Any) -> Rendering | None:
    return scope.get("state", {}).get(RENDERING)


def is_conditional(request: Request) -> bool:
    return "if-none-match" in request.headers or "if-modified-since" in request.headers


def _not_modified_unless_changed(request: Request, state: ContentState) -> tuple[Rendering, dict[str, str]]:
    """The caching headers of `state`; a 304 when the client's copy is current."""
    rendering: Rendering = request.scope["state"][RENDERING]
    validators = compute_validators(request, state, kind=rendering.policy.kind, audience=rendering.audience)
    headers = caching_headers(rendering.policy, rendering.audience, validators)
    if validators.is_fresh_for(request):
        raise NotModified(headers | {"Vary": "Authorization"})
    return rendering, headers


def answer_if_current(request: Request, state: ContentState) -> None:
    """A 304 when the client's copy is current; otherwise nothing, and the route reads its
    response, concluding with the state it read it with."""
    _not_modified_unless_changed(request, state)


def conclude(request: Request, response: Response, state: ContentState) -> None:
    """Validators from `state` on `response`, or a 304 when the client's copy is current."""
    rendering, headers = _not_modified_unless_changed(request, state)
    _set_headers(response, headers)
    rendering.state = state
    if request.app.state.content_cache.shared is not None:
        # Whether the response may be stored costs a second look at the query (2% of a
        # W1 page): only worth it when there is a shared cache to store it in.
        rendering.sharing = sharing(request)


AudienceDependency = Callable[..., Awaitable[Audience]]


def http_cache(
    policy: CachePolicy, audience: AudienceDependency = bearer_audience, *, depends_on: Sequence[str] = ()
) -> Any:
    """The one conditional-GET dependency; `audience` resolves (and authenticates) the
    caller. With `depends_on`, the route shows no articles: its state is those keys' and
    the newest visible article's, read before the route runs."""
    if policy is NO_STORE:
        return Depends(_no_store)
    keys = tuple(depends_on)

    async def conditional_get(
        request: Request,
        response: Response,
        who: Annotated[Audience, Depends(audience)],
        now: Annotated[datetime, Depends(get_clock)],
    ) -> None:
        request.scope.setdefault("state", {})[RENDERING] = Rendering(policy, who)
        if keys:
            async with request.app.state.reads.connect() as connection:
                state = await read_state(connection, keys, now=now)
            # Counts move when a scheduled article appears; nothing else here does.
            conclude(request, response, state if COUNTS in keys else state.with_marker(None))

    conditional_get.http_cache_policy = policy  # type: ignore[attr-defined]
    return Depends(conditional_get)
