"""The outbox claim: leases keep deliverers apart and bring back the rows of a crashed one."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail import delivery
from app.mail.outbox import SENT, OutboxRepository
from app.mail.transport import SmtpConnection
from app.models import OutboundEmail, Subscriber
from app.subscriptions import service as subscriptions_service
from app.subscriptions.schemas import SubscriptionRequest
from tests.mail_fixtures import SmtpServer, deliver
from tests.subscriber_factories import create_newsletter

pytestmark = pytest.mark.asyncio
LEASE = timedelta(minutes=5)


async def queued_confirmations(session: AsyncSession, app: Any, count: int) -> None:
    await create_newsletter(session, slug="daily")
    now = datetime.now(UTC)
    for n in range(count):
        data = SubscriptionRequest(email=f"confirm{n}@example.com", newsletters=["daily"])
        await subscriptions_service.subscribe(
            session, data=data, client=None, settings=app.state.settings, now=now
        )
    await session.commit()


class TestClaim:
    async def test_a_claimed_row_is_not_claimed_again_while_leased(
        self, app: Any, session: AsyncSession
    ) -> None:
        await queued_confirmations(session, app, 3)
        repository, now = OutboxRepository(session), datetime.now(UTC)

        first = await repository.claim(now=now, limit=2, lease=LEASE, max_attempts=8)
        second = await repository.claim(now=now, limit=10, lease=LEASE, max_attempts=8)
        third = await repository.claim(
            now=now + timedelta(minutes=1), limit=10, lease=LEASE, max_attempts=8
        )

        assert len(first) == 2 and len(second) == 1 and third == []
        assert {row.id for row in first}.isdisjoint({row.id for row in second})

    async def test_an_expired_lease_returns_the_row_and_voids_the_old_claim(
        self, app: Any, session: AsyncSession
    ) -> None:
        await queued_confirmations(session, app, 1)
        repository, now = OutboxRepository(session), datetime.now(UTC)
        [first] = await repository.claim(now=now, limit=1, lease=LEASE, max_attempts=8)
        # What the crashed deliverer still holds in memory (the session shares one identity map).
        stale = OutboundEmail(id=first.id, claim_token=first.claim_token)

        [fresh] = await repository.claim(
            now=now + LEASE + timedelta(seconds=1), limit=1, lease=LEASE, max_attempts=8
        )

        assert fresh.id == stale.id and fresh.attempts == 2
        assert await repository.finish(stale, status=SENT, now=now) is False
        assert await repository.finish(fresh, status=SENT, now=now) is True


async def outbox(session: AsyncSession) -> list[tuple[str, int]]:
    session.expire_all()
    rows = await session.exec(
        select(OutboundEmail.status, OutboundEmail.attempts).order_by(col(OutboundEmail.id))
    )
    return list(rows.all())


class TestAttemptsCap:
    async def test_a_row_out_of_attempts_is_never_claimed(
        self, app: Any, session: AsyncSession
    ) -> None:
        await queued_confirmations(session, app, 2)
        await session.exec(update(OutboundEmail).values(attempts=3))  # type: ignore[call-overload]
        await session.commit()
        repository, now = OutboxRepository(session), datetime.now(UTC)

        assert await repository.claim(now=now, limit=10, lease=LEASE, max_attempts=3) == []
        assert len(await repository.claim(now=now, limit=10, lease=LEASE, max_attempts=4)) == 2

    async def test_a_lost_last_attempt_is_failed_not_retried_forever(
        self, app: Any, session: AsyncSession
    ) -> None:
        await queued_confirmations(session, app, 1)
        repository, now = OutboxRepository(session), datetime.now(UTC)
        await repository.claim(now=now, limit=1, lease=LEASE, max_attempts=1)

        later = now + LEASE + timedelta(seconds=1)
        assert await repository.claim(now=later, limit=1, lease=LEASE, max_attempts=1) == []
        assert await outbox(session) == [("failed", 1)]


class TestOneBadRow:
    async def test_a_mail_that_cannot_be_built_is_retried_and_the_rest_sent(
        self, app: Any, session: AsyncSession, smtp: SmtpServer, clock: Any
    ) -> None:
        await queued_confirmations(session, app, 2)
        first = (await session.exec(select(OutboundEmail).order_by(col(OutboundEmail.id)))).first()
        assert first is not None
        recipient = await session.get_one(Subscriber, first.subscriber_id)
        recipient.email = "a@example.com\nBcc: someone@example.net"  # build_message refuses it
        await session.commit()

        clock.now = datetime.now(UTC) + timedelta(seconds=1)
        report = await deliver(app, clock)

        assert (report.sent, report.retried) == (1, 1)
        assert len(smtp.messages) == 1
        assert await outbox(session) == [("queued", 1), ("sent", 1)]

    async def test_a_mail_that_breaks_while_sending_is_retried_and_the_rest_sent(
        self,
        app: Any,
        session: AsyncSession,
        smtp: SmtpServer,
        clock: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await queued_confirmations(session, app, 3)
        calls = 0
        send = SmtpConnection.send

        async def second_one_breaks(self: SmtpConnection, message: Any, *, recipient: str) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("a bug in one message")
            await send(self, message, recipient=recipient)

        monkeypatch.setattr(SmtpConnection, "send", second_one_breaks)

        clock.now = datetime.now(UTC) + timedelta(seconds=1)
        report = await deliver(app, clock)

        assert (report.sent, report.retried) == (2, 1)
        assert await outbox(session) == [("sent", 1), ("queued", 1), ("sent", 1)]


class TestLease:
    async def test_outlasts_a_whole_batch_at_the_smtp_timeout(
        self, app: Any, session: AsyncSession, clock: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await queued_confirmations(session, app, 1)
        leases: list[timedelta] = []
        claim = OutboxRepository.claim

        async def spy(self: OutboxRepository, **options: Any) -> Any:
            leases.append(options["lease"])
            return await claim(self, **options)

        monkeypatch.setattr(OutboxRepository, "claim", spy)
        settings = app.state.settings.model_copy(
            update={"smtp_timeout_seconds": 30, "mail_lease_seconds": 300}
        )

        await delivery.deliver_due(
            app.state.sessionmaker, settings, batch_size=100, clock=clock
        )

        assert leases and all(lease > timedelta(seconds=100 * 30) for lease in leases)
