"""The content_key revision starts `all` and replaces content_version, both ways.

The whole chain's round trip and the models check are in tests/test_migrations.py."""

import asyncio
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app import migrations

REVISION = "7c1e5b2d9a03"
PREVIOUS = "5f0c2a9d8e41"


@pytest.mark.asyncio
async def test_all_is_seeded(connection: AsyncConnection) -> None:
    rows = (await connection.execute(text("SELECT name FROM content_key WHERE name = 'all'"))).all()
    assert len(rows) == 1


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
        assert {"content_key"} <= asyncio.run(tables(url)) - {"content_version"}
        migrations.downgrade(url, PREVIOUS)
        assert "content_version" in asyncio.run(tables(url)) - {"content_key"}
        migrations.upgrade(url, REVISION)
        assert "content_key" in asyncio.run(tables(url)) - {"content_version"}
