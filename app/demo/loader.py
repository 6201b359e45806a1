"""Loads the demo catalogue in `content.json` through the same services the API uses."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service as articles_service
from app.articles.schemas import ArticleCreate
from app.authors import service as authors_service
from app.authors.schemas import AuthorCreate
from app.db import utcnow
from app.models import Article, Author, Newsletter
from app.tags import service as tags_service
from app.tags.schemas import TagCreate
from app.tickers import service as tickers_service
from app.tickers.schemas import TickerCreate

CONTENT_FILE = Path(__file__).with_name("content.json")


async def is_empty(session: AsyncSession) -> bool:
    for model in (Article, Author):
        if (await session.exec(select(model.id).limit(1))).first() is not None:  # type: ignore[attr-defined]
            return False
    return True


def _article_input(item: dict[str, Any], now_hours_ago: Any) -> ArticleCreate:
    values = {k: v for k, v in item.items() if k not in {"published_hours_ago", "editorial_review"}}
    hours = item.get("published_hours_ago")
    if hours is not None:
        values["published_at"] = now_hours_ago(hours)
    review = item.get("editorial_review")
    if review:
        values["editorial_review"] = {
            "reviewed_by": review["reviewed_by"],
            "reviewed_at": now_hours_ago(review["reviewed_hours_ago"]),
        }
    return ArticleCreate.model_validate(values)


async def load_demo_content(session: AsyncSession, *, site_url: str) -> dict[str, int]:
    """Adds every demo record; publication times are relative to now so the feed looks fresh."""
    content = json.loads(CONTENT_FILE.read_text(encoding="utf-8"))
    now = utcnow()

    def hours_ago(hours: float) -> Any:
        return now - timedelta(hours=hours)

    for ticker in content["tickers"]:
        await tickers_service.create_ticker(session, data=TickerCreate.model_validate(ticker))
    for tag in content["tags"]:
        await tags_service.create_tag(session, data=TagCreate.model_validate(tag))
    for author in content["authors"]:
        await authors_service.create_author(session, data=AuthorCreate.model_validate(author))
    for newsletter in content["newsletters"]:
        session.add(Newsletter(**newsletter))
    for article in content["articles"]:
        await articles_service.create_article(
            session, data=_article_input(article, hours_ago), site_url=site_url, now=now
        )
    await session.flush()
    return {name: len(content[name]) for name in ("tickers", "tags", "authors", "newsletters", "articles")}
