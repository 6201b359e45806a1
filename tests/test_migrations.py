"""The Alembic migrations are the schema: they go up, down and up again on the test backend,
and autogenerate finds nothing the models describe that the migrations do not."""

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table)
from app import migrations
from tests.conftest import create_postgresql_database, drop_postgresql_database

TABLES = {
    "alembic_version", "api_key", "article", "article_tag", "article_ticker", "author",
    "confirmation_token", "content_key", "newsletter", "outbound_email", "subscriber",
    "subscriber_author", "subscriber_event", "subscriber_newsletter", "subscriber_ticker",
    "tag", "ticker", "ticker_alias",
}


@pytest.fixture(scope="module")
def throwaway_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own, so the round trip never touches the one the other tests share."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('migrations') / 'round-trip.db'}"
        return
    url = make_url(database_url)
    throwaway = url.set(database=f"{url.database}_migrations").render_as_string(hide_password=False)
    create_postgresql_database(throwaway)
    yield throwaway
    drop_postgresql_database(throwaway)


def inspect_with(url: str, look: Callable[[Connection], Any]) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_object": migrations.include_object},
    )
    return compare_metadata(context, SQLModel.metadata)


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def search_objects(connection: Connection) -> set[str]:
    if connection.dialect.name == "postgresql":
        if "article" not in table_names(connection):
            return set()
        columns = {column["name"] for column in inspect(connection).get_columns("article")}
        indexes = {index["name"] for index in inspect(connection).get_indexes("article")}
        return ({"search_vector"} & columns) | ({"ix_article_search_vector"} & indexes)
    rows = connection.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'article_search%'"))
    return {row[0] for row in rows}


class TestMigrations:
    def test_round_trip_ends_where_the_models_are(self, throwaway_url):
        migrations.upgrade(throwaway_url)
        migrations.downgrade(throwaway_url, "base")

        assert inspect_with(throwaway_url, table_names) == {"alembic_version"}
        assert inspect_with(throwaway_url, search_objects) == set()

        migrations.upgrade(throwaway_url)

        assert inspect_with(throwaway_url, table_names) >= TABLES
        assert inspect_with(throwaway_url, differences) == []

    def test_creates_the_full_text_search_objects(self, throwaway_url):
        migrations.upgrade(throwaway_url)

        found = inspect_with(throwaway_url, search_objects)

        if throwaway_url.startswith("postgresql"):
            assert found == {"search_vector", "ix_article_search_vector"}
        else:
            assert {
                "article_search",
                "article_search_after_insert",
                "article_search_after_update",
                "article_search_after_delete",
            } <= found

    def test_autogenerate_would_notice_a_model_change(self, throwaway_url):
        """Guards the guard: a difference between models and schema is reported."""
        migrations.upgrade(throwaway_url)

        def drop_an_index(connection: Connection) -> list[Any]:
            connection.execute(text("DROP INDEX ix_article_author_id"))
            try:
                return differences(connection)
            finally:
                # pysqlite commits DDL at once; put the index back either way.
                connection.rollback()
                connection.execute(text("CREATE INDEX IF NOT EXISTS ix_article_author_id ON article (author_id)"))
                connection.commit()

        found = inspect_with(throwaway_url, drop_an_index)

        assert [diff[0] for diff in found] == ["add_index"]
