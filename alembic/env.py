"""Migrations run through the same async engine the app uses, on SQLite and PostgreSQL."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

import app.models  # noqa: F401  (registers every table on the metadata)
from app.db import create_engine
from app.migrations import include_object
from app.settings import get_settings
from sqlmodel import SQLModel

target_metadata = SQLModel.metadata


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    settings = get_settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    engine = create_engine(settings)
    async with engine.connect() as async_connection:
        await async_connection.run_sync(run_with_connection)
        await async_connection.commit()
    await engine.dispose()


given_connection: Any = context.config.attributes.get("connection")
if given_connection is not None:
    run_with_connection(given_connection)
else:
    asyncio.run(run_online())
