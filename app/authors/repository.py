from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Author


class AuthorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_slug(self, slug: str) -> Author | None:
        return (await self.session.exec(select(Author).where(Author.slug == slug))).first()

    async def add(self, author: Author) -> Author:
        self.session.add(author)
        await self.session.flush()
        return author

    async def delete(self, author: Author) -> None:
        await self.session.delete(author)
        await self.session.flush()
