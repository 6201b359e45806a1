"""The outbox claim: leases keep deliverers apart and bring back the rows of a crashed one."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.outbox import SENT, OutboxRepository
from app.models import OutboundEmail
from tests.subscriber_factories import create_newsletter, create_subscriber

pytestmark = pytest.mark.asyncio
LEASE = timedelta(minutes=5)


async def queued_confirmations(session: AsyncSession, app: Any, count: int) -> None:
    await create_newsletter(session, slug="daily")
    now = datetime.now(UTC)
    for _ in range(count):
        subscriber = await create_subscriber(session, app.state.settings, newsletters=["daily"])
        await OutboxRepository(session).add_rendered(
            kind="confirmation", subscriber_id=subscriber.id, subject="s", text="t", html="h", now=now
        )
    await session.commit()


class TestClaim:
    async def test_a_claimed_row_is_not_claimed_again_while_leased(
        self, app: Any, session: AsyncSession
    ) -> None:
        await queued_confirmations(session, app, 3)
        repository, now = OutboxRepository(session), datetime.now(UTC)

        first = await repository.claim(now=now, limit=2, lease=LEASE)
        second = await repository.claim(now=now, limit=10, lease=LEASE)
        third = await repository.claim(now=now + timedelta(minutes=1), limit=10, lease=LEASE)

        assert len(first) == 2 and len(second) == 1 and third == []
        assert {row.id for row in first}.isdisjoint({row.id for row in second})

    async def test_an_expired_lease_returns_the_row_and_voids_the_old_claim(
        self, app: Any, session: AsyncSession
    ) -> None:
        await queued_confirmations(session, app, 1)
        repository, now = OutboxRepository(session), datetime.now(UTC)
        [first] = await repository.claim(now=now, limit=1, lease=LEASE)
        # What the crashed deliverer still holds in memory (the session shares one identity map).
        stale = OutboundEmail(id=first.id, claim_token=first.claim_token)

        [fresh] = await repository.claim(now=now + LEASE + timedelta(seconds=1), limit=1, lease=LEASE)

        assert fresh.id == stale.id and fresh.attempts == 2
        assert await repository.finish(stale, status=SENT, now=now) is False
        assert await repository.finish(fresh, status=SENT, now=now) is True
