"""One page of an article feed, shared by `/v1/articles` and the per-resource sub-feeds."""

from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service
from app.articles.cards import to_card
from app.articles.repository import FeedFilters
from app.articles.schemas import ArticleCard
from app.models import Article
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

    async def fetch(after: list[Any] | None, limit: int) -> list[tuple[Article, float | None]]:
        return await service.list_feed(session, filters, now=now, limit=limit, after=after)

    def key_of(row: tuple[Article, float | None]) -> list[Any]:
        article, score = row
        key = [article.published_at, article.id]
        return [score, *key] if filters.query else key

    rows, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=scope,
        parsers=SEARCH_KEY if filters.query else FEED_KEY,
        fetch=fetch,
        key_of=key_of,
    )
    site_url = request.app.state.settings.site_url
    return Page[ArticleCard](items=[to_card(article, site_url) for article, _ in rows], next_cursor=next_cursor)
