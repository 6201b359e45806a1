from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Tag


class TagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_slugs(self, slugs: Sequence[str]) -> list[Tag]:
        return list((await self.session.exec(select(Tag).where(col(Tag.slug).in_(slugs)))).all())

    async def add(self, tag: Tag) -> Tag:
        self.session.add(tag)
        await self.session.flush()
        return tag
