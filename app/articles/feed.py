"""One page of an article feed, shared by `/v1/articles` and the per-resource sub-feeds."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from app.articles.cards import card
from app.caching.http import conclude
from app.responses import json_response
from app.caching.state import ContentState, read_state, state_from_row
from app.articles.queries import FeedFilters, feed_rows, resolve_names
from app.problems import NotFound
from app.pagination import PageRequest, filter_scope, keyset_page, parse_datetime, parse_float, parse_int

FEED_KEY = (parse_datetime, parse_int)
SEARCH_KEY = (parse_float, parse_datetime, parse_int)


async def feed_page(
    request: Request,
    response: Response,
    connection: AsyncConnection,
    *,
    filters: FeedFilters,
    page: PageRequest,
    now: datetime,
) -> Response:
    """`{items, next_cursor}`, serialized once (`app.responses`)."""
    scope = filter_scope("articles", **{k: v for k, v in vars(filters).items() if v})

    async def fetch(after: list[Any] | None, limit: int) -> list[Any]:
        return await feed_rows(connection, filters, now=now, limit=limit, after=after)

    def key_of(row: Any) -> list[Any]:
        key = [row.published_at, row.id]
        return [row.score, *key] if filters.query else key

    rows, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=scope,
        parsers=SEARCH_KEY if filters.query else FEED_KEY,
        fetch=fetch,
        key_of=key_of,
    )
    marker = (lambda first: first.newest_match) if filters.query else first_row_published
    conclude(request, response, await page_state(connection, rows, filters.keys(), now=now, marker=marker))
    site_url = request.app.state.settings.site_url
    return json_response(response, {"items": [card(row, site_url) for row in rows], "next_cursor": next_cursor})


def first_row_published(first: Any) -> datetime | None:
    return first.published_at


async def page_state(
    connection: AsyncConnection,
    rows: Sequence[Any],
    keys: Sequence[str],
    *,
    now: datetime,
    marker: Callable[[Any], datetime | None] | None = first_row_published,
) -> ContentState:
    """The state a page of card rows was read with; an empty page reads it on its own.
    `marker` picks what a scheduled article appearing changes (`app.caching.state`);
    None keeps the newest visible article anywhere."""
    if not rows:
        state = await read_state(connection, keys, now=now)
        return state if marker is None else state.with_marker(None)
    state = state_from_row(rows[0], keys)
    return state if marker is None else state.with_marker(marker(rows[0]))


async def subfeed_filters(
    connection: AsyncConnection, *, symbol: str | None = None, author: str | None = None, tag: str | None = None
) -> FeedFilters:
    """The filters of one ticker's, author's or tag's feed, found by name alone: a 404
    when it does not exist."""
    names = await resolve_names(
        connection, symbols=[symbol] if symbol else [], author_slugs=[author] if author else [],
        tag_slugs=[tag] if tag else [],
    )
    if symbol is not None:
        if symbol.upper() not in names.tickers:
            raise NotFound(f"No ticker with symbol '{symbol.upper()}'.")
        return FeedFilters(ticker_ids=(names.tickers[symbol.upper()],))
    if author is not None:
        if author not in names.authors:
            raise NotFound(f"No author with slug '{author}'.")
        return FeedFilters(author_id=names.authors[author])
    if tag is None or tag not in names.tags:
        raise NotFound(f"No tag with slug '{tag}'.")
    return FeedFilters(tag_id=names.tags[tag])
