"""The one place the catalogues count articles: authors', tickers' and tags' article counts."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.articles.filters import is_visible
from app.models import Article, ArticleTag, ArticleTicker


async def visible_counts(
    connection: AsyncConnection, *, by: str, ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, datetime | None]]:
    """(count, newest published_at) of visible articles per author, ticker or tag id: the
    one place the catalogues count articles."""
    if not ids:
        return {}
    if by == "author_id":
        key: Any = col(Article.author_id)
        statement = select(key, func.count(), func.max(Article.published_at))
    else:
        link: Any = ArticleTicker if by == "ticker_id" else ArticleTag
        key = col(getattr(link, by))
        statement = select(key, func.count(), func.max(Article.published_at)).join(
            Article, col(Article.id) == link.article_id
        )
    statement = statement.where(is_visible(now), key.in_(ids)).group_by(key)
    rows = await connection.execute(statement)
    return {row[0]: (row[1], row[2]) for row in rows.all()}
