"""Engine, sessions and the column types both database backends share."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

from app.settings import Settings


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps that go in and come out as aware UTC on PostgreSQL and SQLite alike.

    SQLite has no time zone type, so values are stored as naive UTC there; both
    backends then compare and sort them the same way.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        # asyncpg already returns aware UTC datetimes: no call per value (147 of them on a
        # feed page).
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# An execution option of connections that only read: SQLite runs them without a BEGIN.
READS_ONLY = "tickerfeed_reads_only"


def create_engine(settings: Settings) -> AsyncEngine:
    """`hide_parameters`: statements' values (addresses, token hashes) stay out of log lines
    and exception messages, which end up in logs too (issue 10, item 10)."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": 30},
            json_deserializer=orjson.loads,
            # As on PostgreSQL: no overflow connections opened and closed per request, here
            # each with a thread of its own (issue 9 profile).
            pool_size=settings.pool_size,
            max_overflow=0,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        settings.database_url,
        # Every card's tickers and tags arrive as JSON: orjson reads them several times faster.
        json_deserializer=orjson.loads,
        pool_size=settings.pool_size,
        # Requests beyond the pool wait for a connection instead of opening one each: under
        # load, overflow connections were opened and closed per request (issue 9 profile).
        max_overflow=0,
        pool_pre_ping=False,
        hide_parameters=True,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, write-ahead log, and transactions that SAVEPOINT can nest in.

    SQLite ignores foreign keys unless each connection asks for them. pysqlite also opens
    transactions lazily, before the first write: a SAVEPOINT issued before any write then
    starts the transaction itself and its RELEASE commits, so a later failure could not
    roll it back. SQLAlchemy's documented recipe hands BEGIN to SQLAlchemy instead:
    https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    IMMEDIATE takes the write lock up front: two deferred transactions that both read and
    then write would otherwise fail at once with "database is locked" instead of waiting.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") != "AUTOCOMMIT" and not options.get(READS_ONLY):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for the GET routes that still read through the ORM (catalogues, keys):
    autocommit, as `ReadDatabase`."""
    return create_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


class ReadDatabase:
    """Connections for the read routes: Core, no unit of work, and autocommit, so a read
    costs its statements and not a BEGIN and a COMMIT round trip besides. Under READ
    COMMITTED every statement takes a fresh snapshot inside a transaction too, so reads
    see exactly what they would see in one."""

    def __init__(self, engine: AsyncEngine) -> None:
        if engine.dialect.name == "sqlite":
            # Its connections are in the driver's autocommit mode already (`_configure_sqlite`):
            # only the BEGIN is left out. SQLAlchemy's AUTOCOMMIT would set and reset the
            # driver's isolation level on every check-out, each a hop to aiosqlite's thread:
            # 1 ms of a 2.4 ms page.
            self.engine = engine.execution_options(**{READS_ONLY: True})
        else:
            self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.engine.connect()


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.reads.connect() as connection:
        yield connection


# Released before the response is sent, like the sessions below.
ReadConnection = Annotated[AsyncConnection, Depends(read_connection, scope="function")]


READ_METHODS = frozenset({"GET", "HEAD"})


def read_session(request: Request) -> AsyncSession:
    """A session for a look-up outside the request's own (a key, say): autocommit when the
    app set up read sessions."""
    state = request.app.state
    return (getattr(state, "read_sessionmaker", None) or state.sessionmaker)()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request.

    Declared with `scope="function"` below so the commit happens before the response
    is sent: a write either lands entirely or the client gets a problem document.
    The commit goes through the content cache (`app.caching.content`): a write bumps the
    content keys it changed and tells the shared cache before it commits (and is rolled
    back if it cannot), then stores the new versions after, before the response goes
    out: every process serves the new content from then on.
    """
    state = request.app.state
    read_sessions = getattr(state, "read_sessionmaker", None)
    make = read_sessions if read_sessions is not None and request.method in READ_METHODS else state.sessionmaker
    async with make() as session:
        try:
            yield session
            await session.flush()
            await state.content_cache.commit(session, now=state.clock())
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
