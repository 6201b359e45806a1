"""Applying Alembic migrations from code (the CLI, the server's first start, the tests)."""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Full-text search lives in dialect-specific objects the models do not describe:
# a generated tsvector column on PostgreSQL and an FTS5 table (with its shadow
# tables) on SQLite. Autogenerate must not propose to drop them.
SEARCH_OBJECTS = ("article_search", "search_vector", "ix_article_search_vector")
# The ticker feed's copy of published_at on article_ticker and its index are kept by
# database triggers (migration 5f0c2a9d8e41); the models leave them out on purpose.
TICKER_FEED_OBJECTS = {("column", "published_at", "article_ticker"), ("index", "ix_article_ticker_feed", "article_ticker")}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if not (reflected and compare_to is None and name):
        return True
    if name.startswith(SEARCH_OBJECTS):
        return False
    table = getattr(getattr(obj, "table", None), "name", None)
    return (type_, name, table) not in TICKER_FEED_OBJECTS


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
