from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import delete
from sqlmodel import col

from app.db import create_engine, create_sessionmaker
from app.models import Article, Author, Newsletter, OutboundEmail, Subscriber
from app.settings import Settings
from tests.factories import create_article, create_author
from tests.mail_fixtures import SmtpServer, mail_settings
from tests.mail_fixtures import app, limiter_prefix, smtp  # noqa: F401  (fixtures)
from tests.subscriber_factories import create_newsletter, create_subscriber

Committed = Callable[..., Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture
async def make_committed(settings: Settings, smtp: SmtpServer) -> AsyncIterator[Committed]:
    """Makes a newsletter, an article published a minute before `now` and `subscribers`
    active subscribers, committed for real on an engine of their own (the rolled-back test
    connection is one connection and cannot show races), and deletes them afterwards."""
    config = mail_settings(settings, smtp)
    engine = create_engine(config)
    makers = create_sessionmaker(engine)
    made: dict[str, Any] = {"settings": config, "sessionmaker": makers, "engine": engine}

    async def make(
        *, subscribers: int = 40, now: datetime | None = None, **newsletter: Any
    ) -> dict[str, Any]:
        made["now"] = now or datetime.now(UTC)
        async with makers() as session:
            made["newsletter"] = await create_newsletter(session, **{"time_zone": "UTC"} | newsletter)
            author = await create_author(session)
            made["author_id"] = author.id
            article = await create_article(
                session, author=author, published_ago=timedelta(minutes=1), now=made["now"]
            )
            made["article_id"] = article.id
            made["subscriber_ids"] = []
            for _ in range(subscribers):
                subscriber = await create_subscriber(session, config, newsletters=[made["newsletter"].slug])
                made["subscriber_ids"].append(subscriber.id)
            await session.commit()
        return made

    try:
        yield make
    finally:
        async with makers() as session:
            if made.get("subscriber_ids"):
                ids = made["subscriber_ids"]
                await session.exec(delete(OutboundEmail).where(col(OutboundEmail.subscriber_id).in_(ids)))  # type: ignore[call-overload]
                await session.exec(delete(Subscriber).where(col(Subscriber.id).in_(ids)))  # type: ignore[call-overload]
            if "article_id" in made:
                await session.exec(delete(Article).where(col(Article.id) == made["article_id"]))  # type: ignore[call-overload]
                await session.exec(delete(Author).where(col(Author.id) == made["author_id"]))  # type: ignore[call-overload]
            if "newsletter" in made:
                await session.exec(delete(Newsletter).where(col(Newsletter.id) == made["newsletter"].id))  # type: ignore[call-overload]
            await session.commit()
        await engine.dispose()
