"""Two queuers and two deliverers at once, each on its own connection of a real engine.

The rolled-back test connection cannot show this (it is one connection), so this test
commits for real and deletes what it made afterwards.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import create_engine, create_sessionmaker
from app.mail.delivery import deliver_due
from app.models import Article, Author, Newsletter, OutboundEmail, Subscriber
from app.newsletters import sending
from app.settings import Settings
from tests.factories import create_article, create_author
from tests.mail_fixtures import SmtpServer, mail_settings
from tests.subscriber_factories import create_newsletter, create_subscriber

pytestmark = pytest.mark.asyncio
SUBSCRIBERS = 40


@pytest_asyncio.fixture
async def committed(settings: Settings, smtp: SmtpServer) -> AsyncIterator[dict[str, Any]]:
    config = mail_settings(settings, smtp)
    engine = create_engine(config)
    makers = create_sessionmaker(engine)
    made: dict[str, Any] = {"settings": config, "sessionmaker": makers, "now": datetime.now(UTC)}
    try:
        async with makers() as session:
            newsletter = await create_newsletter(session, time_zone="UTC")
            author = await create_author(session)
            article = await create_article(
                session, author=author, published_ago=timedelta(minutes=1), now=made["now"]
            )
            subscribers = [
                await create_subscriber(session, config, newsletters=[newsletter.slug])
                for _ in range(SUBSCRIBERS)
            ]
            made |= {
                "newsletter": newsletter,
                "author_id": author.id,
                "article_id": article.id,
                "subscriber_ids": [s.id for s in subscribers],
            }
        yield made
    finally:
        async with makers() as session:
            if "subscriber_ids" in made:
                await session.exec(
                    delete(OutboundEmail).where(
                        col(OutboundEmail.subscriber_id).in_(made["subscriber_ids"])
                    )
                )  # type: ignore[call-overload]
                await session.exec(
                    delete(Subscriber).where(col(Subscriber.id).in_(made["subscriber_ids"]))
                )  # type: ignore[call-overload]
                await session.exec(delete(Article).where(col(Article.id) == made["article_id"]))  # type: ignore[call-overload]
                await session.exec(delete(Author).where(col(Author.id) == made["author_id"]))  # type: ignore[call-overload]
                await session.exec(
                    delete(Newsletter).where(col(Newsletter.id) == made["newsletter"].id)
                )  # type: ignore[call-overload]
            await session.commit()
        await engine.dispose()


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
