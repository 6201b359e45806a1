"""The suite runs against the database named by TEST_DATABASE_URL: a fresh SQLite file in a
temporary folder by default, or PostgreSQL (`postgresql+asyncpg://postgres@127.0.0.1:5432/tickerfeed_test`).
On PostgreSQL the URL's database name is a prefix: each run creates a database of its own
(`tickerfeed_test_<random>`) and drops it at the end, so two runs at once, on one URL, never
touch each other's data, and none leaves a database behind (issue 11).

The schema is built once per run by the Alembic migrations. Each test then runs inside
one outer transaction on one connection that is rolled back afterwards; the app's
per-request sessions join it through savepoints, so a request's commit is real to the
test but nothing outlives it.
"""

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app import migrations
from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.db import create_engine
from app.main import create_app
from app.settings import Settings
from app.stream.feed import ChangeFeed
from app.changes.notify import LocalNotifications

SITE_URL = "https://news.example"
API_URL = "https://api.news.example"


async def on_postgresql_server(url: str, statement: str) -> None:
    admin = create_async_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(statement.format(name=make_url(url).database)))
    finally:
        await admin.dispose()


def create_postgresql_database(url: str) -> None:
    asyncio.run(on_postgresql_server(url, 'CREATE DATABASE "{name}"'))


def drop_postgresql_database(url: str) -> None:
    # FORCE ends only this run's own connections: no other run knows the name.
    asyncio.run(on_postgresql_server(url, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_of_this_run(url: str) -> str:
    """`url` naming a database of this run's own: its name plus a random suffix."""
    target = make_url(url)
    return target.set(database=f"{target.database}_{secrets.token_hex(4)}").render_as_string(hide_password=False)


@contextmanager
def migrated_database(sqlite_name: str, revision: str = "head", *, sqlite: bool = False) -> Iterator[str]:
    """A database of its own, migrated to `revision` and dropped afterwards: on the
    PostgreSQL server TEST_DATABASE_URL names (unless `sqlite`), else a SQLite file in a
    temporary folder."""
    url = None if sqlite else os.environ.get("TEST_DATABASE_URL")
    if url and not url.startswith("sqlite"):
        url = database_of_this_run(url)
        create_postgresql_database(url)
        try:
            migrations.upgrade(url, revision)
            yield url
        finally:
            drop_postgresql_database(url)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / sqlite_name}"
        migrations.upgrade(url, revision)
        yield url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with migrated_database("test.db") as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key="test-secret",
        public_site_url=SITE_URL,
        public_api_url=API_URL,
        cors_origins=["https://app.example"],
        load_demo_content=False,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest_asyncio.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        class_=AsyncSession,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )


@pytest_asyncio.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


class Clock:
    """The app's "now", movable by tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


class TestReads:
    """Read routes borrow the test's connection, inside its rolled-back transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        yield self.connection


def on_test_database(
    application: Any, engine: AsyncEngine, connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession], clock: Any,
) -> Any:
    """`application` reading and writing inside the test's transaction, on the test's clock."""
    application.state.engine = engine
    application.state.sessionmaker = sessionmaker
    application.state.reads = TestReads(connection)
    application.state.clock = clock
    # No lifespan here, so no reader of the log; and an ASGI test client reads a response to
    # its end: a stream ends at once, with its reason (the stream's own tests run servers).
    feed = ChangeFeed(application.state.settings, LocalNotifications(), reads=application.state.reads,
                      sessionmaker=sessionmaker, clock=clock)
    feed.closed = True
    application.state.change_feed = feed
    return application


def like(application: Any, source: Any) -> Any:
    """A second app (other settings, say) on the same test database and clock as `source`."""
    for name in ("engine", "sessionmaker", "reads", "clock", "change_feed"):
        setattr(application.state, name, getattr(source.state, name))
    return application


@pytest.fixture
def app(
    settings: Settings, engine: AsyncEngine, connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
) -> Any:
    return on_test_database(create_app(settings), engine, connection, sessionmaker, clock)


@pytest_asyncio.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def bearer(session: AsyncSession, *scopes: Scope) -> dict[str, str]:
    _, plaintext = await keys_service.create_key(session, name="test", scopes=scopes)
    await session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


@pytest_asyncio.fixture
async def writer(session: AsyncSession) -> dict[str, str]:
    """Headers of an editor's key (scope content:write)."""
    return await bearer(session, Scope.CONTENT_WRITE)


@pytest_asyncio.fixture
async def admin(session: AsyncSession) -> dict[str, str]:
    return await bearer(session, Scope.ADMIN)
