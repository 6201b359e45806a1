"""Two queuers and two deliverers at once, each on its own connection of a real engine.

The rolled-back test connection cannot show this (it is one connection), so this test
commits for real and deletes what it made afterwards.
"""

import asyncio
from collections import Counter
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.delivery import deliver_due
from app.models import OutboundEmail
from app.newsletters import sending
from tests.mail_fixtures import SmtpServer
from tests.newsletters.conftest import Committed

pytestmark = pytest.mark.asyncio
SUBSCRIBERS = 40


@pytest_asyncio.fixture
async def committed(make_committed: Committed) -> dict[str, Any]:
    return await make_committed(subscribers=SUBSCRIBERS)


async def queue_once(makers: async_sessionmaker[AsyncSession], made: dict[str, Any]) -> int:
    async with makers() as session, session.begin():
        _, _, queued = await sending.queue_edition(
            session,
            slug=made["newsletter"].slug,
            day=made["now"].date().isoformat(),
            allow_empty=False,
            settings=made["settings"],
            now=made["now"],
        )
        return queued


class TestConcurrentSends:
    async def test_two_queuers_and_two_deliverers_send_each_mail_once(
        self, committed: dict[str, Any], smtp: SmtpServer
    ) -> None:
        makers = committed["sessionmaker"]

        queued = await asyncio.gather(queue_once(makers, committed), queue_once(makers, committed))
        reports = await asyncio.gather(
            deliver_due(makers, committed["settings"], batch_size=3, concurrency=2),
            deliver_due(makers, committed["settings"], batch_size=3, concurrency=2),
        )

        assert sum(queued) == SUBSCRIBERS
        assert sum(report.sent for report in reports) == SUBSCRIBERS
        assert all(report.sent > 0 for report in reports), (
            "both deliverers should have taken a share"
        )
        recipients = Counter(mail["To"] for mail in smtp.messages)
        assert len(recipients) == SUBSCRIBERS and set(recipients.values()) == {1}
        async with makers() as session:
            rows = (
                await session.exec(
                    select(OutboundEmail.status).where(
                        col(OutboundEmail.subscriber_id).in_(committed["subscriber_ids"])
                    )
                )
            ).all()
        assert Counter(rows) == {"sent": SUBSCRIBERS}
