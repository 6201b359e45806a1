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

    async def get_for_edit(self, slug: str) -> Article | None:
        """An article that is not deleted, whatever its status, locked until the transaction
        ends (on PostgreSQL; SQLite's write transactions are serialised whole). Two edits of
        one article then take turns, and the second sees the first: one that waited for a
        delete finds no article (a 404), where it used to update the tombstone and fail to
        read it back (a 500), and each logs its change from what the other left.
        `FOR NO KEY UPDATE`, the lock an UPDATE takes anyway: a plain `FOR UPDATE` would
        also hold off the key-share locks that foreign keys to the article take (the
        changes log's appender holds its lock while it inserts such rows: a deadlock)."""
        statement = (
            select(Article)
            .where(Article.slug == slug, col(Article.deleted_at).is_(None))
            .options(*edit_options())
            .with_for_update(of=Article, key_share=True)  # type: ignore[arg-type]
        )
        return (await self.session.exec(statement)).first()

    async def slug_exists(self, slug: str) -> bool:
        statement = select(Article.id).where(Article.slug == slug)
        return (await self.session.exec(statement)).first() is not None

    async def add(self, article: Article) -> Article:
        self.session.add(article)
        await self.session.flush()
        return article
