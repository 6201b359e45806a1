"""Articles for writing: ORM entities with what an edit changes loaded up front.

Reads go through `queries.py`; the unit of work is for writes, where it earns its cost.
"""

from typing import Any

from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Article, ArticleTag, ArticleTicker


def edit_options() -> list[Any]:
    """The author, the ticker links with their tickers and the tag links with their tags."""
    return [
        joinedload(Article.author, innerjoin=True),  # type: ignore[arg-type]
        selectinload(Article.ticker_links).joinedload(ArticleTicker.ticker, innerjoin=True),  # type: ignore[arg-type]
        selectinload(Article.tag_links).joinedload(ArticleTag.tag, innerjoin=True),  # type: ignore[arg-type]
    ]


class ArticleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_slug(self, slug: str) -> Article | None:
        """An article that is not deleted, whatever its status."""
        statement = (
            select(Article)
            .where(Article.slug == slug, col(Article.deleted_at).is_(None))
            .options(*edit_options())
        )
        return (await self.session.exec(statement)).first()

    async def slug_exists(self, slug: str) -> bool:
        statement = select(Article.id).where(Article.slug == slug)
        return (await self.session.exec(statement)).first() is not None

    async def add(self, article: Article) -> Article:
        self.session.add(article)
        await self.session.flush()
        return article
