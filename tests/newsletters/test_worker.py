"""`tickerfeed worker`: the editions scheduler (time zones, DST, races, catch-up), the
mail lease's heartbeat, and stopping (a stop event here; SIGTERM on a real process)."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import update
from sqlmodel import col, select

from app.db import create_engine, create_sessionmaker
from app.mail.delivery import deliver_batch
from app.mail.outbox import OutboxRepository
from app.models import Newsletter, NewsletterEdition, OutboundEmail, Subscriber
from app.newsletters import schedule
from app.newsletters.mailing import EditionCache
from tests.mail_fixtures import SmtpServer
from tests.newsletters.conftest import Committed

TICKERFEED = str(Path(sys.executable).parent / "tickerfeed")


def letter(time_zone: str, send_hour: int) -> Newsletter:
    return Newsletter(slug="x", name="X", time_zone=time_zone, send_hour=send_hour)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


class TestSendTime:
    @pytest.mark.parametrize(
        ("time_zone", "send_hour", "day", "due_at"),
        [
            ("UTC", 7, date(2026, 6, 15), utc(2026, 6, 15, 7)),
            ("America/New_York", 7, date(2026, 1, 15), utc(2026, 1, 15, 12)),  # EST
            ("America/New_York", 7, date(2026, 7, 15), utc(2026, 7, 15, 11)),  # EDT
            ("America/New_York", 7, date(2026, 3, 8), utc(2026, 3, 8, 11)),  # spring-forward day
            ("America/New_York", 7, date(2026, 11, 1), utc(2026, 11, 1, 12)),  # fall-back day
            # 02:00 does not exist on 8 March in New York: the first instant after the gap.
            ("America/New_York", 2, date(2026, 3, 8), utc(2026, 3, 8, 7)),
            # 01:00 happens twice on 1 November: the first one (EDT).
            ("America/New_York", 1, date(2026, 11, 1), utc(2026, 11, 1, 5)),
            ("Asia/Tokyo", 7, date(2026, 12, 2), utc(2026, 12, 1, 22)),
            ("Asia/Kolkata", 7, date(2026, 12, 2), utc(2026, 12, 2, 1, 30)),
            ("Pacific/Auckland", 6, date(2026, 12, 2), utc(2026, 12, 1, 17)),  # NZDT
        ],
    )
    def test_is_send_hour_in_the_newsletters_zone(
        self, time_zone: str, send_hour: int, day: date, due_at: datetime
    ) -> None:
        assert schedule.send_time(letter(time_zone, send_hour), day) == due_at

    def test_only_todays_edition_is_ever_due(self) -> None:
        tokyo = letter("Asia/Tokyo", 7)
        assert schedule.due_day(tokyo, utc(2026, 12, 1, 21, 59)) is None  # 06:59 on the 2nd
        assert schedule.due_day(tokyo, utc(2026, 12, 1, 22, 0)) == date(2026, 12, 2)
        # 23:59 in Tokyo: still the 2nd, late; a minute later the 3rd, not due before 07:00.
        assert schedule.due_day(tokyo, utc(2026, 12, 2, 14, 59)) == date(2026, 12, 2)
        assert schedule.due_day(tokyo, utc(2026, 12, 2, 15, 0)) is None

    def test_a_dst_day_is_due_once_at_its_hour(self) -> None:
        new_york = letter("America/New_York", 7)
        # Every minute of the 23-hour spring-forward day and the 25-hour fall-back day.
        for start in (utc(2026, 3, 8, 5), utc(2026, 11, 1, 4)):
            due = [start + timedelta(minutes=m) for m in range(26 * 60)]
            days = {schedule.due_day(new_york, moment) for moment in due} - {None}
            first = next(m for m in due if schedule.due_day(new_york, m) is not None)
            assert len(days) <= 2 and first.astimezone(ZoneInfo("America/New_York")).hour == 7


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def editions(made: dict[str, Any]) -> list[tuple[date, int]]:
    async with made["sessionmaker"]() as session:
        rows = await session.exec(
            select(NewsletterEdition.edition_date, NewsletterEdition.recipients)
            .where(NewsletterEdition.newsletter_id == made["newsletter"].id)
            .order_by(col(NewsletterEdition.edition_date))
        )
        return list(rows.all())  # type: ignore[arg-type]


async def queued_mail(made: dict[str, Any]) -> Counter[date]:
    async with made["sessionmaker"]() as session:
        rows = await session.exec(
            select(OutboundEmail.edition_date).where(OutboundEmail.newsletter_id == made["newsletter"].id)
        )
        return Counter(rows.all())  # type: ignore[arg-type]


async def tick(made: dict[str, Any], clock: Clock) -> None:
    await schedule.queue_due_editions(made["sessionmaker"], made["settings"], clock=clock)


MONDAY_0630_TOKYO = utc(2026, 12, 6, 21, 30)  # Monday 7 December, 06:30 in Tokyo


@pytest.mark.asyncio
class TestScheduler:
    async def test_queues_at_send_hour_once(self, make_committed: Committed) -> None:
        made = await make_committed(subscribers=5, now=MONDAY_0630_TOKYO, time_zone="Asia/Tokyo", send_hour=7)
        clock = Clock(MONDAY_0630_TOKYO)
        await tick(made, clock)
        assert await editions(made) == []

        for minutes in (30, 31, 90):  # 07:00, 07:01, 08:30
            clock.now = MONDAY_0630_TOKYO + timedelta(minutes=minutes)
            await tick(made, clock)

        assert await editions(made) == [(date(2026, 12, 7), 5)]
        assert await queued_mail(made) == {date(2026, 12, 7): 5}

    async def test_two_workers_racing_queue_one_edition(self, make_committed: Committed) -> None:
        made = await make_committed(subscribers=20, now=MONDAY_0630_TOKYO, time_zone="Asia/Tokyo", send_hour=7)
        clock = Clock(MONDAY_0630_TOKYO + timedelta(minutes=30))
        # Two engines, as two worker processes have; four passes in all.
        other = create_engine(made["settings"])
        try:
            await asyncio.gather(
                *(
                    schedule.queue_due_editions(makers, made["settings"], clock=clock)
                    for makers in (made["sessionmaker"], create_sessionmaker(other)) * 2
                )
            )
        finally:
            await other.dispose()
        assert await editions(made) == [(date(2026, 12, 7), 20)]
        assert await queued_mail(made) == {date(2026, 12, 7): 20}

    async def test_catches_up_late_the_same_day_only(self, make_committed: Committed) -> None:
        made = await make_committed(subscribers=3, now=MONDAY_0630_TOKYO, time_zone="Asia/Tokyo", send_hour=7)
        # Down from before Monday's send hour until 23:59 Monday: Monday's edition goes late.
        clock = Clock(MONDAY_0630_TOKYO + timedelta(hours=17, minutes=29))
        await tick(made, clock)
        assert await editions(made) == [(date(2026, 12, 7), 3)]

        # Down again all Tuesday, back on Wednesday at 06:00, then 07:00: Tuesday is never sent.
        clock.now = MONDAY_0630_TOKYO + timedelta(days=2, minutes=-30)
        await tick(made, clock)
        assert [day for day, _ in await editions(made)] == [date(2026, 12, 7)]
        clock.now = MONDAY_0630_TOKYO + timedelta(days=2, minutes=30)
        await tick(made, clock)
        assert [day for day, _ in await editions(made)] == [date(2026, 12, 7), date(2026, 12, 9)]
        assert (await queued_mail(made))[date(2026, 12, 8)] == 0

    async def test_late_edition_skips_who_left_meanwhile(self, make_committed: Committed) -> None:
        made = await make_committed(subscribers=4, now=MONDAY_0630_TOKYO, time_zone="Asia/Tokyo", send_hour=7)
        async with made["sessionmaker"]() as session, session.begin():
            await session.exec(  # type: ignore[call-overload]
                update(Subscriber)
                .where(col(Subscriber.id) == made["subscriber_ids"][0])
                .values(status="unsubscribed")
            )
        await tick(made, Clock(MONDAY_0630_TOKYO + timedelta(hours=5)))
        assert await editions(made) == [(date(2026, 12, 7), 3)]
        async with made["sessionmaker"]() as session:
            recipients = (
                await session.exec(
                    select(OutboundEmail.subscriber_id).where(OutboundEmail.newsletter_id == made["newsletter"].id)
                )
            ).all()
        assert sorted(recipients) == sorted(made["subscriber_ids"][1:])

    async def test_an_edition_without_articles_is_decided_not_sent(self, make_committed: Committed) -> None:
        # The only article is a day older than the edition.
        made = await make_committed(subscribers=2, now=MONDAY_0630_TOKYO - timedelta(days=1), time_zone="Asia/Tokyo")
        clock = Clock(MONDAY_0630_TOKYO + timedelta(hours=1))
        await tick(made, clock)
        await tick(made, clock)
        assert await editions(made) == [(date(2026, 12, 7), 0)]
        assert await queued_mail(made) == {}


async def queue_today(made: dict[str, Any]) -> None:
    async with made["sessionmaker"]() as session, session.begin():
        await OutboxRepository(session).queue_edition(
            newsletter_id=made["newsletter"].id, day=made["now"].date(), now=made["now"]
        )


async def statuses(made: dict[str, Any]) -> Counter[tuple[str, int]]:
    async with made["sessionmaker"]() as session:
        rows = await session.exec(
            select(OutboundEmail.status, OutboundEmail.attempts).where(
                col(OutboundEmail.subscriber_id).in_(made["subscriber_ids"])
            )
        )
        return Counter(rows.all())  # type: ignore[arg-type]


@pytest.mark.asyncio
class TestLease:
    async def test_heartbeat_keeps_a_slow_batch_out_of_other_hands(
        self, make_committed: Committed, smtp: SmtpServer
    ) -> None:
        made = await make_committed(subscribers=8)
        await queue_today(made)
        smtp.handler.delay = 0.5  # 4 s for the batch, a lease of 1.5 s renewed every 0.5 s
        makers, settings = made["sessionmaker"], made["settings"]
        first = asyncio.create_task(
            deliver_batch(makers, settings, batch_size=8, cache=EditionCache(), lease=timedelta(seconds=1.5))
        )
        await asyncio.sleep(2.5)
        second = await deliver_batch(makers, settings, batch_size=8, cache=EditionCache(), lease=timedelta(seconds=1.5))
        async with makers() as session:
            leases = (await session.exec(select(OutboundEmail.lease_until).where(
                col(OutboundEmail.subscriber_id).in_(made["subscriber_ids"])))).all()
        read_at = datetime.now(UTC)
        report = await first

        assert second is None, "the rows were still leased"
        assert all(lease is not None and lease > read_at for lease in leases)
        assert report is not None and report.sent == 8
        assert Counter(mail["To"] for mail in smtp.messages).most_common(1)[0][1] == 1

    async def test_a_dead_deliverers_mail_returns_after_one_lease(
        self, make_committed: Committed, smtp: SmtpServer
    ) -> None:
        made = await make_committed(subscribers=3)
        await queue_today(made)
        async with made["sessionmaker"]() as session, session.begin():  # claimed, then nothing
            await OutboxRepository(session).claim(
                now=datetime.now(UTC), limit=3, lease=timedelta(seconds=45), max_attempts=8
            )
        later = datetime.now(UTC) + timedelta(seconds=46)
        report = await deliver_batch(
            made["sessionmaker"], made["settings"], batch_size=3, cache=EditionCache(),
            lease=timedelta(seconds=45), clock=lambda: later,
        )
        assert report is not None and report.sent == 3

    async def test_stopping_hands_back_what_was_not_sent(
        self, make_committed: Committed, smtp: SmtpServer
    ) -> None:
        made = await make_committed(subscribers=10)
        await queue_today(made)
        smtp.handler.delay = 0.2
        stopping = asyncio.Event()
        batch = asyncio.create_task(
            deliver_batch(
                made["sessionmaker"], made["settings"], batch_size=10, cache=EditionCache(),
                lease=timedelta(seconds=30), stopping=stopping,
            )
        )
        await asyncio.sleep(0.7)
        stopping.set()
        report = await batch

        assert report is not None and report.sent + report.released == 10
        assert 1 <= report.sent < 10 and len(smtp.messages) == report.sent
        assert await statuses(made) == {("sent", 1): report.sent, ("queued", 0): report.released}


@pytest_asyncio.fixture
async def heartbeat_file(tmp_path: Path) -> Path:
    return tmp_path / "worker.heartbeat"


@pytest.mark.asyncio
class TestWorkerProcess:
    async def test_sigterm_exits_0_and_leaves_nothing_claimed(
        self, make_committed: Committed, smtp: SmtpServer, heartbeat_file: Path
    ) -> None:
        made = await make_committed(subscribers=30)
        await queue_today(made)
        smtp.handler.delay = 0.05
        settings = made["settings"]
        environment = os.environ | {
            "ENVIRONMENT": "test",
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": "test-secret",
            "PUBLIC_API_URL": "https://api.news.example",
            "SMTP_PORT": str(smtp.port),
            "WORKER_HEARTBEAT_FILE": str(heartbeat_file),
            "LOAD_DEMO_CONTENT": "false",
        }
        worker = subprocess.Popen(
            [TICKERFEED, "worker", "--batch-size", "10", "--concurrency", "2"],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while len(smtp.messages) < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.wait, 30)
        finally:
            if worker.poll() is None:
                worker.kill()
        output = worker.stdout.read().decode() if worker.stdout else ""

        assert code == 0, output
        assert "SIGTERM: stopping" in output
        counted = await statuses(made)
        assert not [status for status, _ in counted if status == "sending"], counted
        assert counted[("sent", 1)] == len(smtp.messages) < 30
        assert counted[("queued", 0)] == 30 - len(smtp.messages)
        check = subprocess.run(
            [TICKERFEED, "worker", "--check"], env=environment, capture_output=True
        )
        assert check.returncode == 0, check.stderr
