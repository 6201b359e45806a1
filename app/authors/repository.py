from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Article, Author


class AuthorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_slug(self, slug: str) -> Author | None:
        return (await self.session.exec(select(Author).where(Author.slug == slug))).first()

    async def get_by_slugs(self, slugs: Sequence[str]) -> list[Author]:
        statement = select(Author).where(col(Author.slug).in_(set(slugs)))
        return list((await self.session.exec(statement)).all())

    async def has_articles(self, author: Author) -> bool:
        """Tombstones included: they still name their author."""
        statement = select(Article.id).where(Article.author_id == author.id).limit(1)
        return (await self.session.exec(statement)).first() is not None

    async def add(self, author: Author) -> Author:
        self.session.add(author)
        await self.session.flush()
        return author

    async def delete(self, author: Author) -> None:
        await self.session.delete(author)
        await self.session.flush()
