"""The changes log's revision on a database that already has articles: the published ones
are logged by the first reader, each at its time, and scheduled ones when due."""

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import column, insert, select, table
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app import migrations
from app.changes import log
from app.changes.log import change, materialise_due
from app.db import utcnow
from app.models import Author
from tests.conftest import migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="session")
PREVIOUS = "3b8e61f0c2d4"


def article(slug: str, status: str, published_at: object) -> dict[str, object]:
    now = utcnow()
    return {
        "slug": slug, "title": slug, "dek": "", "body_markdown": "Body.", "body_html": "<p>Body.</p>",
        "word_count": 1, "reading_time_minutes": 1, "status": status, "published_at": published_at,
        "author_id": 1, "created_at": now, "updated_at": now,
    }


@pytest.fixture
def url_before() -> Iterator[str]:
    with migrated_database("before-changes.db", PREVIOUS) as url:
        yield url


async def upgrade_with(engine: AsyncEngine, url: str, rows: list[dict[str, object]]) -> None:
    """`rows` written as articles of one author before the changes log, then the upgrade."""
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(insert(Author.__table__).values(  # type: ignore[attr-defined]
            id=1, slug="desk", name="Desk", kind="human", bio="", expertise=[], links=[],
            created_at=now, updated_at=now,
        ))
        # The table as that revision has it (the model has grown columns since).
        await connection.execute(insert(table("article", *map(column, rows[0]))), rows)
    # Alembic's env runs its own event loop.
    await asyncio.to_thread(migrations.upgrade, url)


async def test_articles_published_before_it_are_logged_by_the_first_reader(url_before: str) -> None:
    now = utcnow()
    engine = create_async_engine(url_before)
    try:
        await upgrade_with(engine, url_before, [
            article("older", "published", now - timedelta(days=2)),
            article("newer", "published", now - timedelta(days=1)),
            article("later", "published", now + timedelta(days=1)),
            article("draft", "draft", None),
        ])
        async with engine.begin() as connection:
            assert (await connection.run_sync(lambda sync: materialise_due(sync, now=now))).last_seq == 2
            assert not await connection.run_sync(lambda sync: materialise_due(sync, now=now))
            logged = (await connection.execute(select(change.c.slug, change.c.type).order_by(change.c.seq))).all()
            assert [tuple(row) for row in logged] == [("older", "article.published"), ("newer", "article.published")]
            assert (await connection.run_sync(lambda sync: materialise_due(sync, now=now + timedelta(days=2)))).last_seq == 3
    finally:
        await engine.dispose()


async def test_a_large_backlog_is_logged_a_batch_at_a_time(url_before: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """More due articles than one statement can bind (PostgreSQL: 32,767 parameters; found on
    the 1M benchmark database): logged in order, in batches, by one call."""
    monkeypatch.setattr(log, "DUE_BATCH", 2)
    now = utcnow()
    engine = create_async_engine(url_before)
    try:
        await upgrade_with(engine, url_before, [article(f"a{n}", "published", now - timedelta(days=10 - n)) for n in range(5)])
        async with engine.begin() as connection:
            appended = await connection.run_sync(lambda sync: materialise_due(sync, now=now))
            logged = (await connection.execute(select(change.c.slug).order_by(change.c.seq))).scalars().all()
        assert (appended.last_seq, logged) == (5, ["a0", "a1", "a2", "a3", "a4"])
    finally:
        await engine.dispose()
