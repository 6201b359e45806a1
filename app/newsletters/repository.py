from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Newsletter


class NewsletterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_slug(self, slug: str) -> Newsletter | None:
        return (await self.session.exec(select(Newsletter).where(Newsletter.slug == slug))).first()

    async def get_many_by_slug(self, slugs: Sequence[str]) -> dict[str, Newsletter]:
        statement = select(Newsletter).where(col(Newsletter.slug).in_(slugs))
        return {
            newsletter.slug: newsletter for newsletter in (await self.session.exec(statement)).all()
        }

    async def add(self, newsletter: Newsletter) -> Newsletter:
        self.session.add(newsletter)
        await self.session.flush()
        return newsletter
