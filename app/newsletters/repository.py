from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Newsletter, NewsletterEdition


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

    async def list_all(self) -> list[Newsletter]:
        return list((await self.session.exec(select(Newsletter).order_by(col(Newsletter.id)))).all())

    async def claim_edition(self, *, newsletter_id: int, day: date, now: datetime) -> int | None:
        """Inserts the edition's row unless one exists; its id when this transaction's insert
        landed, None when another queuer (a worker, the CLI) had it. On PostgreSQL a racing
        insert waits for the first transaction and then finds the row; SQLite's writers take
        turns (BEGIN IMMEDIATE)."""
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(NewsletterEdition)
            .values(newsletter_id=newsletter_id, edition_date=day, queued_at=now, recipients=0, articles=0)
            .on_conflict_do_nothing(index_elements=["newsletter_id", "edition_date"])
            .returning(NewsletterEdition.id)
        )
        return (await self.session.exec(statement)).scalar()  # type: ignore[call-overload,no-any-return]

    async def record_edition(self, edition_id: int, *, articles: int, recipients: int) -> None:
        await self.session.exec(  # type: ignore[call-overload]
            update(NewsletterEdition)
            .where(col(NewsletterEdition.id) == edition_id)
            .values(articles=articles, recipients=recipients)
        )
