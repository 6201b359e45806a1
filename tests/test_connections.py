"""A request never holds one pooled connection while it waits for another: with a pool of
one, a request that needs a key and reads would otherwise wait for itself until the pool
times out (found by `bench.changes_pages`: 32 keyed pollers of /v1/changes on a pool of
10 stalled the process, every connection checked out and idle)."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.main import create_app
from app.settings import Settings
from tests.conftest import migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def own_database_url() -> Iterator[str]:
    with migrated_database("one-connection.db") as url:
        yield url


@pytest_asyncio.fixture
async def one_connection_app(settings: Settings, own_database_url: str) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    app = create_app(settings.model_copy(update={
        "database_url": own_database_url, "database_pool_size": 1,
    }))
    async with app.router.lifespan_context(app):
        async with app.state.sessionmaker() as session:
            _, plaintext = await keys_service.create_key(session, name="full", scopes=[Scope.FEEDS_FULL])
            await session.commit()
        yield app, {"Authorization": f"Bearer {plaintext}"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/changes", 200), ("/feeds/articles.rss", 200), ("/v1/articles/no-such-article", 404),
        ("/v1/articles/no-such-article/comments", 401),  # a key is no reader session
    ],
)
async def test_a_keyed_read_needs_one_connection_at_a_time(one_connection_app, path, status):
    app, key = one_connection_app
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await asyncio.wait_for(client.get(path, headers=key), 10)

    assert response.status_code == status, response.text
