"""The production engine's transaction behaviour, which every request relies on."""

import asyncio

import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.sql import fetch_all, is_database_unreachable

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROBE = text(
    "INSERT INTO tag (slug, name, description, created_at, updated_at) "
    "VALUES ('savepoint-probe', 'x', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


async def test_a_released_savepoint_is_rolled_back_with_its_transaction(engine: AsyncEngine) -> None:
    """A SAVEPOINT opened before any write must not commit on RELEASE (pysqlite's default)."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("SELECT 1"))
        async with connection.begin_nested():
            await connection.execute(PROBE)
        await transaction.rollback()

    async with engine.connect() as connection:
        found = await connection.execute(text("SELECT count(*) FROM tag WHERE slug = 'savepoint-probe'"))
        assert found.scalar_one() == 0


async def test_foreign_keys_are_enforced(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(Exception, match="(?i)foreign key"):
            await connection.execute(text("INSERT INTO ticker_alias (ticker_id, alias) VALUES (999999, 'NOPE')"))
        await connection.rollback()


async def test_a_connection_the_server_dropped_is_an_invalidated_operational_error(engine: AsyncEngine) -> None:
    """Reads that bypass SQLAlchemy's execution (app.sql.fetch_all) still say "unreachable"
    the way SQLAlchemy would, so the request is a 503 and the pool drops the connection;
    the restart fault test once saw such a read answered 500. Here the connection died while
    idle, which asyncpg reports only as "connection is closed"."""
    if engine.dialect.name != "postgresql":
        pytest.skip("only a server can drop a connection")
    async with engine.connect() as connection:
        backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            # The backend is signalled, not gone: wait until it has exited.
            gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")

            async def exited() -> None:
                while not (await other.execute(gone, {"pid": backend})).scalar_one():
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(exited(), 5)

        with pytest.raises(OperationalError) as raised:
            await fetch_all(connection, select(literal(1).label("one")), {})

        assert raised.value.connection_invalidated
        assert is_database_unreachable(raised.value)
        assert connection.invalidated

    async with engine.connect() as connection:
        assert (await fetch_all(connection, select(literal(1).label("one")), {}))[0]["one"] == 1
