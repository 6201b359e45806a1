"""What a shared-cache entry is keyed on, and which requests may add one (issue 10).

An entry stands for one page: a route's path and query parameters as the route
validated them, spelled one way. The middleware looks a request up under its path and
its query pairs, percent-decoded and sorted (`lookup_key`), before any routing; the
response is stored only when those pairs are exactly the canonical spelling of what the
route validated (`sharing`), with FastAPI's own validation of the route's declared
parameters, so the two cannot disagree. `limit=1%30%30` or another order finds the
page's one entry; `limit=100&limit=100`, `limit=0100` or `ticker=nvda` are answered from
the database and add none. Values with no bounded set of spellings (timestamps, edition
days: parameters marked `OPEN_ENDED`, and any type without a canonical spelling below)
are answered and never stored. A search (`FREE_TEXT`) is stored in its one spelling, in a
pool of entries whose size is a setting.

The key holds the configured `PUBLIC_SITE_URL` and `PUBLIC_API_URL`, never the `Host`
header: every link is built on `PUBLIC_API_URL` (`app.links`), so a request naming
another host or scheme gets, and shares, the same entry.
"""

import enum
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import Scope

from app.settings import Settings


class _OpenEnded:
    """`Annotated[…, OPEN_ENDED]` on a query or path parameter: any value of it is
    answered but never stored in the shared cache, where each would be an entry of its own."""

    def __repr__(self) -> str:
        return "OPEN_ENDED"


OPEN_ENDED = _OpenEnded()


class _FreeText:
    """`Annotated[…, FREE_TEXT]` on a query parameter people repeat in many spellings (a
    search): stored only when spelled one way, lowercase words between single spaces, and
    then in a pool of at most `shared_cache_free_text_entries` entries, the least recently
    stored leaving first (`SharedCache.store`)."""

    def __repr__(self) -> str:
        return "FREE_TEXT"


FREE_TEXT = _FreeText()


class Sharing(enum.Enum):
    """Whether a response may be stored under its `lookup_key`, and where."""

    NONE = "none"
    PAGE = "page"
    FREE_TEXT = "free text"


def free_text_spelling(value: str) -> str:
    return " ".join(value.lower().split())


def query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """The query's pairs decoded as Starlette decodes them for the route, in one order;
    without `key`, a credential (keyed requests never reach the shared cache)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return sorted(pair for pair in pairs if pair[0] != "key")


# Responses that never end: never looked up, nor captured to be stored.
STREAMS = frozenset({"/v1/stream"})


def lookup_key(scope: Scope, settings: Settings) -> str | None:
    """The entry a request may be answered from, or None for a stream. Not the `Host`
    header: no response depends on it (`app.links`), so a request naming another host
    shares the one entry."""
    if scope["path"] in STREAMS:
        return None
    query = urlencode(query_pairs(scope["query_string"]))
    return "\n".join((settings.site_url, settings.api_url, scope["path"], query))


def sharing(request: Request) -> Sharing:
    """`PAGE` when the request spells exactly what its route validated, once, with no
    open-ended value: the requests whose responses may be stored under `lookup_key`;
    `FREE_TEXT` when one of those values is free text; `NONE` otherwise."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return Sharing.NONE
    path_parameters, query_parameters = _parameters(route)
    sent = {name for name, _ in query_pairs(request.scope["query_string"])}
    if not sent <= query_parameters.keys():
        return Sharing.NONE
    canonical: list[tuple[str, str]] = []
    for name in sent:
        spellings = _spellings(query_parameters[name], request.query_params)
        if spellings is None:
            return Sharing.NONE
        canonical.extend((name, spelling) for spelling in spellings)
    if sorted(canonical) != query_pairs(request.scope["query_string"]):
        return Sharing.NONE
    if not all(
        _spellings(field, request.path_params) == [request.path_params[name]]
        for name, field in path_parameters.items()
    ):
        return Sharing.NONE
    free_text = any(FREE_TEXT in query_parameters[name].field_info.metadata for name in sent)
    return Sharing.FREE_TEXT if free_text else Sharing.PAGE


def _spellings(field: Any, received: Any) -> list[str] | None:
    """The canonical spelling of `field`'s validated value: one per item of a list (a set
    to the routes that take one, so sorted and without repeats); None when it has none."""
    if OPEN_ENDED in field.field_info.metadata:
        return None
    values, errors = request_params_to_args([field], received)
    if errors:
        return None
    value = values[field.name]
    if FREE_TEXT in field.field_info.metadata:
        return [free_text_spelling(value)] if value is not None else []
    items = sorted(set(value)) if isinstance(value, list) else [value]
    spelled = [_spelling(item) for item in items if item is not None]
    return None if any(spelling is None for spelling in spelled) else spelled  # type: ignore[return-value]


def _spelling(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _spelling(value.value)
    if isinstance(value, int | str):
        return str(value)
    return None  # datetimes, floats…: many spellings, and their values are open-ended anyway


def _parameters(route: APIRoute) -> tuple[dict[str, Any], dict[str, Any]]:
    """The path and query parameters a route or any of its dependencies declares, by
    alias; worked out once per route and kept on it (routes are not hashable)."""
    known: tuple[dict[str, Any], dict[str, Any]] | None = getattr(route, "cache_key_parameters", None)
    if known is None:
        path_parameters = {field.alias: field for dependant in _dependants(route.dependant) for field in dependant.path_params}
        query_parameters = {field.alias: field for dependant in _dependants(route.dependant) for field in dependant.query_params}
        known = (path_parameters, query_parameters)
        route.cache_key_parameters = known  # type: ignore[attr-defined]
    return known


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for dependency in dependant.dependencies:
        yield from _dependants(dependency)
