"""The content_version revision seeds its one row and downgrades on its own.

The whole chain's round trip and the models check are in tests/test_migrations.py."""

import asyncio
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app import migrations

REVISION = "6409f0a39cb3"
PREVIOUS = "09abbbdcc477"


@pytest.mark.asyncio
async def test_the_single_row_is_seeded(connection: AsyncConnection) -> None:
    rows = (await connection.execute(text("SELECT id FROM content_version"))).all()
    assert [row[0] for row in rows] == [1]


def test_downgrade_and_upgrade_again_on_sqlite() -> None:
    async def tables(url: str) -> set[str]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            result = await connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
            )
            names = {row[0] for row in result}
        await engine.dispose()
        return names

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'migrations.db'}"
        migrations.upgrade(url, REVISION)
        assert "content_version" in asyncio.run(tables(url))
        migrations.downgrade(url, PREVIOUS)
        assert "content_version" not in asyncio.run(tables(url))
        migrations.upgrade(url, REVISION)
        assert "content_version" in asyncio.run(tables(url))
