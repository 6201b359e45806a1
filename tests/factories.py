"""Test data made through the services, so rendering and linking happen as in production."""

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service as articles_service
from app.articles.schemas import ArticleCreate
from app.authors import service as authors_service
from app.authors.schemas import AuthorCreate
from app.models import Article, Author, Tag, Ticker
from app.tags import service as tags_service
from app.tags.schemas import TagCreate
from app.tickers import service as tickers_service
from app.tickers.schemas import TickerCreate

SITE_URL = "https://news.example"
_sequence = count(1)


async def create_author(session: AsyncSession, **overrides: Any) -> Author:
    n = next(_sequence)
    values: dict[str, Any] = {"slug": f"author-{n}", "name": f"Author {n}", "kind": "human"}
    if overrides.get("kind") == "ai_agent":
        values["disclosure"] = "Written by a language model pipeline; reviewed by an editor."
    author = await authors_service.create_author(session, data=AuthorCreate(**values | overrides))
    await session.commit()
    return author


async def create_ticker(session: AsyncSession, symbol: str, **overrides: Any) -> Ticker:
    values: dict[str, Any] = {"symbol": symbol, "name": f"{symbol} Inc.", "asset_class": "equity"}
    ticker = await tickers_service.create_ticker(session, data=TickerCreate(**values | overrides))
    await session.commit()
    return ticker


async def create_tag(session: AsyncSession, slug: str, **overrides: Any) -> Tag:
    values: dict[str, Any] = {"slug": slug, "name": slug.replace("-", " ").title()}
    tag = await tags_service.create_tag(session, data=TagCreate(**values | overrides))
    await session.commit()
    return tag


async def create_article(
    session: AsyncSession,
    *,
    author: Author,
    now: datetime | None = None,
    published_ago: timedelta | None = timedelta(hours=1),
    **overrides: Any,
) -> Article:
    n = next(_sequence)
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {
        "slug": f"article-{n}",
        "title": f"Article {n}",
        "dek": f"Summary of article {n}.",
        "body_markdown": f"Body of article {n}.",
        "author": author.slug,
        "status": "published",
    }
    if published_ago is not None:
        values["published_at"] = now - published_ago
    data = ArticleCreate(**values | overrides)
    article = await articles_service.create_article(session, data=data, site_url=SITE_URL, now=now)
    await session.commit()
    return article
