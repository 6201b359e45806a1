"""One page of an article feed, shared by `/v1/articles` and the per-resource sub-feeds."""

from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service
from app.articles.cards import card_fields_from_row
from app.articles.repository import FeedFilters
from app.articles.schemas import ArticleCard
from app.pagination import Page, PageRequest, filter_scope, keyset_page, parse_datetime, parse_float, parse_int

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
    scope = filter_scope("articles", **{k: v for k, v in vars(filters).items() if v})

    async def fetch(after: list[Any] | None, limit: int) -> list[Any]:
        return await service.list_feed_rows(session, filters, now=now, limit=limit, after=after)

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
    links = await service.card_links(session, [row.id for row in rows])
    site_url = request.app.state.settings.site_url
    # One validation of the whole page (pydantic-core) instead of a model per card and field.
    return Page[ArticleCard].model_validate({
        "items": [card_fields_from_row(row, links.get(row.id, []), site_url) for row in rows],
        "next_cursor": next_cursor,
    })
