"""Editions through the outbox to a real SMTP server (aiosmtpd on loopback)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.delivery import deliver_due
from app.models import OutboundEmail
from app.newsletters import sending
from app.problems import InvalidFields
from tests.factories import create_article, create_author, create_ticker
from tests.mail_fixtures import SmtpServer, deliver, free_port, plain_text
from tests.subscriber_factories import create_newsletter, create_subscriber

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def edition(app: Any, session: AsyncSession, clock: Any) -> dict[str, Any]:
    """Two articles today (UTC), one on NVDA; subscribers in every state."""
    settings = app.state.settings
    clock.now = datetime.now(UTC).replace(hour=12, minute=0)
    await create_newsletter(session, slug="daily", name="Daily", time_zone="UTC")
    await create_newsletter(session, slug="weekly", name="Weekly", time_zone="UTC")
    await create_ticker(session, "NVDA")
    author = await create_author(session)
    await create_article(
        session,
        author=author,
        slug="nvda-story",
        title="NVDA story",
        tickers=["NVDA"],
        published_ago=timedelta(hours=3),
        now=clock.now,
    )
    await create_article(
        session,
        author=author,
        slug="newer-story",
        title="Newer story",
        published_ago=timedelta(hours=1),
        now=clock.now,
    )
    people = {
        "follower": await create_subscriber(
            session, settings, newsletters=["daily"], email="f@example.com", tickers=["NVDA"]
        ),
        "reader": await create_subscriber(
            session, settings, newsletters=["daily", "weekly"], email="r@example.com"
        ),
        "weekly": await create_subscriber(
            session, settings, newsletters=["weekly"], email="w@example.com"
        ),
        "pending": await create_subscriber(
            session, settings, newsletters=["daily"], email="p@example.com", status="pending"
        ),
        "gone": await create_subscriber(
            session, settings, newsletters=["daily"], email="g@example.com", status="unsubscribed"
        ),
    }
    return {"people": people, "day": clock.now.date().isoformat()}


async def queue(session: AsyncSession, app: Any, clock: Any, day: str, slug: str = "daily") -> int:
    _, _, queued = await sending.queue_edition(
        session, slug=slug, day=day, allow_empty=False, settings=app.state.settings, now=clock.now
    )
    await session.commit()
    return queued


async def statuses(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.exec(
        select(OutboundEmail.status, OutboundEmail.attempts).order_by(OutboundEmail.id)
    )
    return list(rows.all())


class TestSendEdition:
    async def test_reaches_exactly_the_confirmed_subscribers_with_unsubscribe_headers(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        assert await queue(session, app, clock, edition["day"]) == 2
        report = await deliver(app, clock)

        assert (report.sent, report.retried, report.failed) == (2, 0, 0)
        assert sorted(mail["To"] for mail in smtp.messages) == ["f@example.com", "r@example.com"]
        for mail in smtp.messages:
            assert mail["List-Unsubscribe"].startswith(
                "<https://api.news.example/v1/subscriptions/unsubscribe?token="
            )
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert mail.get_body(preferencelist=("html",)) is not None
        assert await statuses(session) == [("sent", 1), ("sent", 1)]

    async def test_puts_followed_tickers_first_in_a_subscribers_copy(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        await deliver(app, clock)

        follower = plain_text(smtp.handler.to("f@example.com")[0])
        reader = plain_text(smtp.handler.to("r@example.com")[0])
        assert follower.index("NVDA story") < follower.index("Newer story")
        assert reader.index("Newer story") < reader.index("NVDA story")

    async def test_the_one_click_header_unsubscribes(
        self,
        app: Any,
        client: httpx.AsyncClient,
        session: AsyncSession,
        smtp: SmtpServer,
        clock: Any,
        edition: dict[str, Any],
    ) -> None:
        await queue(session, app, clock, edition["day"])
        await deliver(app, clock)
        url = smtp.handler.to("r@example.com")[0]["List-Unsubscribe"].strip("<>")

        response = await client.post(
            url.removeprefix("https://api.news.example"), data={"List-Unsubscribe": "One-Click"}
        )

        assert response.status_code == 200 and response.json()["status"] == "unsubscribed"

    async def test_a_second_run_queues_and_delivers_nothing_new(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        await deliver(app, clock)

        assert await queue(session, app, clock, edition["day"]) == 0
        report = await deliver(app, clock)

        assert report.sent == 0
        assert len(smtp.messages) == 2

    async def test_skips_someone_who_left_after_queueing(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        reader = edition["people"]["reader"]
        reader.status = "unsubscribed"
        session.add(reader)
        await session.commit()

        report = await deliver(app, clock)

        assert (report.sent, report.skipped) == (1, 1)
        assert [mail["To"] for mail in smtp.messages] == ["f@example.com"]

    async def test_queues_nothing_for_an_empty_day(
        self, app: Any, session: AsyncSession, clock: Any, edition: dict[str, Any]
    ) -> None:
        assert await queue(session, app, clock, "2001-01-01") == 0


class TestDeliveryFailures:
    async def test_a_refusing_server_leaves_every_mail_queued_for_retry(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        smtp.handler.reply = "451 4.3.0 Try again later"

        report = await deliver(app, clock)

        assert (report.sent, report.retried, report.failed) == (0, 2, 0)
        assert smtp.messages == []
        assert await statuses(session) == [("queued", 1), ("queued", 1)]
        assert "451" in (await session.exec(select(OutboundEmail.last_error))).first()  # type: ignore[operator]

        smtp.handler.reply = None
        assert (await deliver(app, clock)).sent == 0  # not due before the backoff has passed
        clock.now += timedelta(minutes=2)
        assert (await deliver(app, clock)).sent == 2
        assert sorted(mail["To"] for mail in smtp.messages) == ["f@example.com", "r@example.com"]
        assert await statuses(session) == [("sent", 2), ("sent", 2)]

    async def test_an_unreachable_server_loses_nothing(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        closed = app.state.settings.model_copy(update={"smtp_port": free_port()})

        report = await deliver_due(app.state.sessionmaker, closed, clock=clock)

        assert (report.sent, report.retried) == (0, 2)
        assert await statuses(session) == [("queued", 1), ("queued", 1)]
        clock.now += timedelta(minutes=2)
        assert (await deliver(app, clock)).sent == 2

    async def test_gives_up_after_the_last_attempt(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        smtp.handler.reply = "451 4.3.0 Try again later"
        settings = app.state.settings.model_copy(update={"mail_max_attempts": 2})

        await deliver_due(app.state.sessionmaker, settings, clock=clock)
        clock.now += timedelta(minutes=2)
        report = await deliver_due(app.state.sessionmaker, settings, clock=clock)

        assert report.failed == 2
        assert await statuses(session) == [("failed", 2), ("failed", 2)]

    async def test_a_permanent_refusal_is_not_retried(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any, edition: dict[str, Any]
    ) -> None:
        await queue(session, app, clock, edition["day"])
        smtp.handler.reply = "554 5.6.0 Message rejected"

        report = await deliver(app, clock)

        assert report.failed == 2
        assert await statuses(session) == [("failed", 1), ("failed", 1)]


class TestQueueEditionDays:
    @pytest.mark.parametrize(
        ("time_zone", "day"), [("UTC", "9999-12-31"), ("Asia/Tokyo", "0001-01-01")]
    )
    async def test_a_day_without_a_window_is_refused(
        self, session: AsyncSession, app: Any, clock: Any, time_zone: str, day: str
    ) -> None:
        await create_newsletter(session, slug="edge", time_zone=time_zone)

        with pytest.raises(InvalidFields) as refused:
            await queue(session, app, clock, day, slug="edge")

        assert [error.loc for error in refused.value.errors] == [["date"]]
