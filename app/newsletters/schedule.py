"""The worker's scheduler: each newsletter's edition is queued at its `send_hour` in the
newsletter's own time zone, once per day however many workers run.

Exactly once: queueing inserts a `newsletter_edition` row keyed (newsletter, day) in the
transaction that queues the mail; a worker whose insert finds the row queues nothing. The
database decides, so workers need no leader and no memory of their own.

Catch-up: a worker that was down at `send_hour` queues the edition as soon as it runs
again the same local day, late. A day that ended while no worker ran is never sent (a
morning's headlines mailed the next day are news nobody wants), and an edition that was
queued is never queued again. Recipients are the confirmed subscribers when the edition is
queued; one who leaves between queueing and sending is skipped at send time
(`app.newsletters.mailing`).

Send time: `send_hour:00` local. In a spring-forward gap (no 02:00 that day) it is the
first instant after the gap; in a fall-back overlap (01:00 twice) the first 01:00.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.outbox import OutboxRepository
from app.models import Newsletter
from app.newsletters import service
from app.newsletters.repository import NewsletterRepository
from app.settings import Settings

logger = logging.getLogger("tickerfeed.worker")


@dataclass(frozen=True)
class QueuedEdition:
    newsletter: str
    day: date
    articles: int
    recipients: int


def send_time(newsletter: Newsletter, day: date) -> datetime:
    """When `day`'s edition is due, in UTC (fold=0: see the module's note). In UTC because
    a local time in a DST gap compares unequal to every instant of another zone (PEP 495)."""
    local = datetime.combine(day, time(newsletter.send_hour), tzinfo=ZoneInfo(newsletter.time_zone))
    return local.astimezone(UTC)


def due_day(newsletter: Newsletter, now: datetime) -> date | None:
    """Today's local date once its send time has passed, else None: only today's edition is
    ever due (the catch-up rule)."""
    today = service.local_today(newsletter, now)
    return today if now >= send_time(newsletter, today) else None


async def queue_edition_once(
    session: AsyncSession, settings: Settings, newsletter: Newsletter, day: date, *, now: datetime
) -> QueuedEdition | None:
    """Queues `day`'s edition unless it was queued before; None when it was. An edition
    without articles is recorded and not mailed."""
    assert newsletter.id is not None
    repository = NewsletterRepository(session)
    edition_id = await repository.claim_edition(newsletter_id=newsletter.id, day=day, now=now)
    if edition_id is None:
        return None
    cards = await service.edition_cards(
        await session.connection(), newsletter, day,
        now=now, limit=settings.edition_max_articles, site_url=settings.site_url,
    )
    recipients = 0
    if cards:
        recipients = await OutboxRepository(session).queue_edition(newsletter_id=newsletter.id, day=day, now=now)
    await repository.record_edition(edition_id, articles=len(cards), recipients=recipients)
    return QueuedEdition(newsletter.slug, day, len(cards), recipients)


async def queue_due_editions(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, clock: Callable[[], datetime]
) -> list[QueuedEdition]:
    """One pass of the scheduler: every newsletter whose edition is due and not yet queued,
    each in a transaction of its own."""
    async with sessionmaker() as session:
        newsletters = await NewsletterRepository(session).list_all()
    queued = []
    for newsletter in newsletters:
        now = clock()
        day = due_day(newsletter, now)
        if day is None:
            continue
        try:
            async with sessionmaker() as session, session.begin():
                edition = await queue_edition_once(session, settings, newsletter, day, now=now)
        except Exception:  # one newsletter's failure does not hold back the others
            logger.exception("edition of newsletter %s not queued; trying again next pass", newsletter.slug)
            continue
        if edition is not None:
            logger.info(
                "queued %s %s: %d articles, %d messages",
                edition.newsletter, edition.day.isoformat(), edition.articles, edition.recipients,
            )
            queued.append(edition)
    return queued
