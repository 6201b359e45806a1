"""The production engine's transaction behaviour, which every request relies on."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

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
