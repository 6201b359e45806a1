"""One page of an article feed, shared by `/v1/articles` and the per-resource sub-feeds."""

from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service
from app.articles.cards import card_fields_from_row
from app.articles.repository import FeedFilters
from app.articles.schemas import ArticleCard
from app.pagination import Page, PageRequest, filter_scope, parse_datetime, parse_float, parse_int, set_next_link

FEED_KEY = (parse_datetime, parse_int)
SEARCH_KEY = (parse_float, parse_datetime, parse_int)


async def feed_page(
    request: Request,
    response: Response,
    session: AsyncSession,
    *,
    filters: FeedFilters,
    page: PageRequest,
    now: datetime,
) -> Page[ArticleCard]:
    codec = request.app.state.cursor_codec
    scope = filter_scope("articles", **{k: v for k, v in vars(filters).items() if v})
    parsers = SEARCH_KEY if filters.query else FEED_KEY
    after = codec.decode(page.cursor, scope, parsers) if page.cursor else None
    rows, links = await service.list_feed_cards(session, filters, now=now, limit=page.limit + 1, after=after)
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        key: list[Any] = [last.published_at, last.id]
        next_cursor = codec.encode([last.score, *key] if filters.query else key, scope)
    set_next_link(request, response, next_cursor)
    site_url = request.app.state.settings.site_url
    # One validation of the whole page (pydantic-core) instead of a model per card and field.
    return Page[ArticleCard].model_validate({
        "items": [card_fields_from_row(row, links.get(row.id, []), site_url) for row in rows],
        "next_cursor": next_cursor,
    })
