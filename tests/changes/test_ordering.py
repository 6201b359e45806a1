"""No change lands behind a cursor already handed out (PostgreSQL, where transactions run
at once). Transaction A appends first and stays open; B begins later, appends and tries to
commit first. B waits at the log's lock until A has committed, so a poller that read in
between holds a cursor before both, and then gets A's change, then B's.

A is the appender that takes no other lock: a scheduled article coming due. Two editors'
writes would also meet at the content keys both bump (`app.caching.changes`), which would
hide whether the log's own lock orders them."""

import asyncio
from datetime import timedelta

import pytest

from app.api_keys.scopes import Scope
from app.changes.log import materialise_due
from app.db import utcnow
from tests.changes.conftest import LiveApp
from tests.changes.helpers import poll
from tests.factories import create_article, create_author

pytestmark = pytest.mark.asyncio(loop_scope="session")
WAIT_SECONDS = 0.5


async def test_a_change_committed_late_is_not_skipped(live: LiveApp) -> None:
    if live.app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    admin, partner = live.headers[Scope.ADMIN], live.headers[Scope.FEEDS_FULL]
    due = utcnow() + timedelta(hours=1)
    async with live.sessionmaker() as session:
        author = await create_author(session)
        await create_article(session, author=author, slug="comes-due", published_ago=None, published_at=due)
    # The API's clock stays before `due`: its polls find nothing due, so they take no lock.
    live.clock.stop()
    async with live.client() as client:
        _, cursor = await poll(client, partner)

        async with live.sessionmaker() as first:
            # A: the article comes due, and is logged under the lock A then holds.
            await first.run_sync(lambda sync: materialise_due(sync.connection(), now=due))

            body = {"slug": "began-second", "title": "Second", "body_markdown": "Body.",
                    "author": author.slug, "status": "published"}
            second = asyncio.create_task(client.post("/v1/articles", json=body, headers=admin))
            await asyncio.sleep(WAIT_SECONDS)
            assert not second.done(), "B committed while A, which appended first, was open"
            changes, in_between = await asyncio.wait_for(poll(client, partner, cursor), WAIT_SECONDS * 4)
            assert changes == []
            await first.commit()
        assert (await second).status_code == 201

        changes, _ = await poll(client, partner, in_between)
    assert [(change["slug"], change["type"]) for change in changes] == [
        ("comes-due", "article.published"), ("began-second", "article.published"),
    ]
    assert changes[0]["seq"] < changes[1]["seq"]
