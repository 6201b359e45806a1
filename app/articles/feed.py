"""One page of an article feed, shared by `/v1/articles` and the per-resource sub-feeds."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from app.articles.cards import card
from app.articles.filters import FeedFilters
from app.articles.names import resolve_names
from app.articles.queries import CardPage, read_feed, read_feed_text, read_first_date
from app.caching.http import answer_if_current, conclude, is_conditional
from app.caching.state import ContentState, state_from_row
from app.pagination import (
    PageRequest, cursor_key, filter_scope, keyset_page, link_next_page, parse_datetime, parse_float, parse_int,
)
from app.problems import NotFound
from app.responses import json_bytes_response, json_response

FEED_KEY = (parse_datetime, parse_int)
SEARCH_KEY = (parse_float, parse_datetime, parse_int)


def dated_state(page: CardPage, keys: Sequence[str], *, marker: str = "published_at") -> ContentState:
    """The state of a page ordered by date: a scheduled article appearing becomes its first
    card (`app.caching.state`). A search's marker is its newest candidate instead."""
    first = page.items[0][marker] if page.items else None
    return state_from_row(page.state, keys).with_marker(first)


async def answer_if_unchanged(
    request: Request, connection: AsyncConnection, filters: FeedFilters, *, now: datetime, after: Sequence[Any] | None = None
) -> None:
    """A conditional request for a date-ordered page gets its 304 from the page's state
    and first date alone, before any card is read: on PostgreSQL at 1M that statement
    costs a fraction of the page's (the cards are most of it). A search has no such
    shortcut (its marker is its newest candidate, found by the search itself)."""
    if filters.query or not is_conditional(request):
        return
    row, first_date = await read_first_date(connection, filters, now=now, after=after)
    answer_if_current(request, state_from_row(row, filters.keys()).with_marker(first_date))


async def feed_page(
    request: Request,
    response: Response,
    connection: AsyncConnection,
    *,
    filters: FeedFilters,
    page: PageRequest,
    now: datetime,
) -> Response:
    """`{items, next_cursor}`, serialized once (`app.responses`); on PostgreSQL, a page
    that is not a search is passed through as the database wrote it (`page_as_text`)."""
    scope = filter_scope("articles", **{k: v for k, v in vars(filters).items() if v})
    if connection.dialect.name == "postgresql" and not filters.query:
        return await page_as_text(request, response, connection, filters=filters, page=page, now=now, scope=scope)
    read: list[CardPage] = []

    async def fetch(after: list[Any] | None, limit: int) -> list[dict[str, Any]]:
        await answer_if_unchanged(request, connection, filters, now=now, after=after)
        read.append(await read_feed(connection, filters, now=now, limit=limit, after=after))
        return read[0].items

    def key_of(item: dict[str, Any]) -> list[Any]:
        key = [item["published_at"], item["id"]]
        return [item["score"], *key] if filters.query else key

    items, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=scope,
        parsers=SEARCH_KEY if filters.query else FEED_KEY,
        fetch=fetch,
        key_of=key_of,
    )
    marker = "newest_match" if filters.query else "published_at"
    conclude(request, response, dated_state(read[0], filters.keys(), marker=marker))
    site_url = request.app.state.settings.site_url
    return json_response(response, {"items": [card(item, site_url) for item in items], "next_cursor": next_cursor})


async def page_as_text(
    request: Request,
    response: Response,
    connection: AsyncConnection,
    *,
    filters: FeedFilters,
    page: PageRequest,
    now: datetime,
    scope: str,
) -> Response:
    """A date-ordered feed page whose cards arrive as the JSON text clients get
    (`app.articles.queries.page_text_statement`), the cursor and validators read beside."""
    after = cursor_key(request, page, scope, FEED_KEY)
    await answer_if_unchanged(request, connection, filters, now=now, after=after)
    site_url = request.app.state.settings.site_url
    read = await read_feed_text(connection, filters, now=now, size=page.limit, after=after, site_url=site_url)
    next_cursor = link_next_page(request, response, scope, read.last_key if read.rows > page.limit else None)
    conclude(request, response, state_from_row(read.state, filters.keys()).with_marker(read.first_date))
    body = b'{"items":' + read.cards.encode() + b',"next_cursor":' + orjson.dumps(next_cursor) + b"}"
    return json_bytes_response(response, body)


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
