"""`kill -9` of a worker halfway through an edition to 2,000 subscribers, then a restart:
everyone gets the edition; a mail is sent twice only if the dead worker had sent it and not
yet recorded it, so duplicates are bounded by what it had in flight (batch × concurrency)."""

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import create_engine
from app.mail.outbox import OutboxRepository
from app.models import Newsletter, OutboundEmail, Subscriber, SubscriberNewsletter
from app.newsletters.repository import NewsletterRepository
from app.settings import Settings
from tests.faults.conftest import OwnPostgres, app_environment, report, start_worker, tickerfeed
from tests.mail_fixtures import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.asyncio]
SUBSCRIBERS = 2000
BATCH, CONCURRENCY = 50, 4
WORKER_OPTIONS = ("--batch-size", str(BATCH), "--concurrency", str(CONCURRENCY))


async def seed(database_url: str) -> None:
    """2,000 active subscribers of the demo newsletter and today's edition queued for them,
    recorded as queued so that the worker's scheduler does not queue it again. Today is the
    newsletter's local day (at 01:00 UTC New York is still on yesterday, which the scheduler
    would otherwise find due and not yet queued)."""
    settings = Settings(environment="test", database_url=database_url, secret_key="x", _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(settings)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as session:  # Core: one bulk insert, not the unit of work
            await session.execute(text("TRUNCATE subscriber, outbound_email, newsletter_edition CASCADE"))
            newsletter_id, time_zone = (
                await session.execute(select(Newsletter.id, Newsletter.time_zone).where(Newsletter.slug == "daily-headlines"))
            ).one()
            day = now.astimezone(ZoneInfo(time_zone)).date()
            ids = (
                await session.execute(
                    insert(Subscriber).returning(Subscriber.id),
                    [
                        {
                            "email": f"reader{n}@example.com", "email_key": f"reader{n}@example.com",
                            "status": "active", "token_nonce": f"{n:032d}", "requested_at": now,
                            "consent_version": "2026-11-01", "confirmed_at": now, "created_at": now, "updated_at": now,
                        }
                        for n in range(SUBSCRIBERS)
                    ],
                )
            ).scalars().all()
            await session.execute(
                insert(SubscriberNewsletter),
                [{"subscriber_id": id_, "newsletter_id": newsletter_id} for id_ in ids],
            )
            orm = AsyncSession(bind=session)
            assert await NewsletterRepository(orm).claim_edition(newsletter_id=newsletter_id, day=day, now=now)
            queued = await OutboxRepository(orm).queue_edition(newsletter_id=newsletter_id, day=day, now=now)
            assert queued == SUBSCRIBERS
    finally:
        await engine.dispose()


async def statuses(database_url: str) -> Counter[str]:
    settings = Settings(environment="test", database_url=database_url, secret_key="x", _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status))
            return Counter(dict(rows.all()))  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def wait_for(condition, seconds: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not await condition():
        assert time.monotonic() - start < seconds, "timed out"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_kill_9_mid_edition_loses_nothing(postgres: OwnPostgres, smtp: SmtpServer, workdir: Path) -> None:
    environment = app_environment(
        postgres.url, workdir, SMTP_PORT=str(smtp.port), WORKER_LEASE_SECONDS="5",
    )
    started = time.monotonic()
    tickerfeed(environment, workdir, "migrate")
    tickerfeed(environment, workdir, "demo", "load", "--if-empty")
    await seed(postgres.url)
    smtp.handler.delay = 0.002

    print(f"\nset-up {time.monotonic() - started:.1f} s")
    first = start_worker(environment, workdir, "worker-1.log", *WORKER_OPTIONS)

    async def halfway() -> bool:
        return len(smtp.handler.envelopes) >= SUBSCRIBERS // 2

    print(f"halfway after {await wait_for(halfway, 120):.1f} s")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    received_at_kill = len(smtp.handler.envelopes)
    at_kill = await statuses(postgres.url)
    await asyncio.sleep(0.5)  # mail the SMTP server was still taking in when the process died
    received_at_kill = len(smtp.handler.envelopes)

    second = start_worker(environment, workdir, "worker-2.log", *WORKER_OPTIONS)
    try:
        async def everyone() -> bool:
            return len({rcpt for rcpts in smtp.handler.envelopes for rcpt in rcpts}) >= SUBSCRIBERS

        took = await wait_for(everyone, 120)
        async def settled() -> bool:
            return (await statuses(postgres.url)) == {"sent": SUBSCRIBERS}

        await wait_for(settled, 30)
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(30)

    received = Counter(rcpt for rcpts in smtp.handler.envelopes for rcpt in rcpts)
    duplicates = sum(count - 1 for count in received.values())
    report(
        "worker kill -9",
        subscribers=SUBSCRIBERS, received_before_kill=received_at_kill,
        rows_sent_at_kill=at_kill["sent"], rows_claimed_at_kill=at_kill["sending"],
        restart_to_everyone_s=round(took, 1), lost=SUBSCRIBERS - len(received),
        received_twice=duplicates, bound=BATCH * CONCURRENCY,
    )
    assert code == 0
    assert len(received) == SUBSCRIBERS, "nobody lost"
    assert duplicates <= BATCH * CONCURRENCY
    assert max(received.values()) <= 2
