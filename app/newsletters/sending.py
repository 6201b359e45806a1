"""Queueing an edition into the outbox, for the CLI and the benchmark."""

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.outbox import OutboxRepository
from app.newsletters import service
from app.newsletters.repository import NewsletterRepository
from app.problems import InvalidFields
from app.settings import Settings


async def queue_edition(
    session: AsyncSession,
    *,
    slug: str,
    day: str | None,
    allow_empty: bool,
    settings: Settings,
    now: datetime,
) -> tuple[str, int, int]:
    """(edition name, article count, messages queued). Nothing is queued for an empty edition
    unless asked: a mail saying "no headlines" is rarely wanted."""
    newsletter = await service.get_newsletter(session, slug)
    try:
        edition_day = date.fromisoformat(day) if day else service.local_today(newsletter, now)
    except ValueError as exc:
        raise InvalidFields.one(["date"], "must be YYYY-MM-DD") from exc
    service.require_edition_day(newsletter, edition_day, loc=["date"])
    articles = await service.edition_cards(
        await session.connection(), newsletter, edition_day,
        now=now, limit=settings.edition_max_articles, site_url=settings.site_url,
    )
    queued = 0
    if articles or allow_empty:
        assert newsletter.id is not None
        queued = await OutboxRepository(session).queue_edition(
            newsletter_id=newsletter.id, day=edition_day, now=now
        )
        # The worker's scheduler then counts the day as queued (app.newsletters.schedule).
        await NewsletterRepository(session).claim_edition(newsletter_id=newsletter.id, day=edition_day, now=now)
    return f"{newsletter.slug} {edition_day.isoformat()}", len(articles), queued
