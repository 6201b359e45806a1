"""The subscriptions revision upgrades, downgrades and upgrades again, matching the models.

Runs on a scratch SQLite file: the suite's own database stays at head for the other tests.
The PostgreSQL run checks the same through `alembic check` (see the closing note of issue 3).
"""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table)
from app import migrations
from app.db import create_engine
from app.settings import Settings

CORE = "702c5b96217b"


def differences(url: str) -> list[object]:
    async def compare() -> list[object]:
        engine = create_engine(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
        async with engine.connect() as connection:
            found = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"include_object": migrations.include_object, "compare_type": True}
                    ),
                    SQLModel.metadata,
                )
            )
        await engine.dispose()
        return list(found)

    return asyncio.run(compare())


def test_round_trip_leaves_no_difference_from_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"

    migrations.upgrade(url)
    migrations.downgrade(url, CORE)
    migrations.upgrade(url)

    assert differences(url) == []
