"""Loads a dataset into a fresh database whose schema comes from the Alembic migrations.

PostgreSQL: COPY through asyncpg's `copy_records_to_table`, with the secondary indexes
dropped during the load and recreated from their own definitions afterwards (building
an index once is far cheaper than updating it a million times), and foreign-key
triggers off for the load session (`session_replication_role = replica`; the generator
only emits consistent rows). SQLite: `executemany` in large transactions.
"""

import asyncio
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from app import migrations
from bench import dataset

try:
    from tqdm import tqdm
except ImportError:  # the smoke test runs without the bench dependency group
    tqdm = None


def _progress(total: int, label: str) -> Any:
    if tqdm is None:
        return None
    return tqdm(total=total, unit=" articles", desc=label, mininterval=1.0)


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def recreate_postgresql(url: str) -> None:
    import asyncpg

    target = make_url(url)
    admin = await asyncpg.connect(asyncpg_dsn(url.rsplit("/", 1)[0] + "/postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await admin.close()


async def _load_postgresql(url: str, size: dataset.Size) -> None:
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("SET session_replication_role = replica; SET synchronous_commit = off")
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('article', 'article_ticker', 'article_tag') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        authors = _encode_json(dataset.authors(), dataset.AUTHOR_COLUMNS, {"expertise", "links"})
        await connection.copy_records_to_table("author", records=authors, columns=dataset.AUTHOR_COLUMNS)
        await connection.copy_records_to_table("ticker", records=dataset.tickers(), columns=dataset.TICKER_COLUMNS)
        await connection.copy_records_to_table("tag", records=dataset.tags(), columns=dataset.TAG_COLUMNS)
        progress = _progress(size.articles, "COPY")
        for chunk in dataset.articles(size):
            await connection.copy_records_to_table("article", records=chunk.articles, columns=dataset.ARTICLE_COLUMNS)
            await connection.copy_records_to_table(
                "article_ticker", records=chunk.article_tickers, columns=dataset.ARTICLE_TICKER_COLUMNS
            )
            await connection.copy_records_to_table(
                "article_tag", records=chunk.article_tags, columns=dataset.ARTICLE_TAG_COLUMNS
            )
            if progress is not None:
                progress.update(len(chunk.articles))
        if progress is not None:
            progress.close()
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for index in _progress_iter(indexes, "indexes"):
            await connection.execute(index["indexdef"])
        for table in ("author", "ticker", "tag", "article"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()


def _progress_iter(items: list[Any], label: str) -> Iterable[Any]:
    if tqdm is None:
        return items
    return tqdm(items, desc=label, unit=" index")


def _encode_json(rows: list[tuple[object, ...]], columns: tuple[str, ...], json_columns: set[str]) -> list[tuple[object, ...]]:
    import json

    positions = [i for i, name in enumerate(columns) if name in json_columns]
    out = []
    for row in rows:
        values = list(row)
        for i in positions:
            values[i] = json.dumps(values[i])
        out.append(tuple(values))
    return out


def _sqlite_value(value: object) -> object:
    # Naive UTC text, as the app's UTCDateTime type stores timestamps on SQLite.
    if hasattr(value, "tzinfo") and hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # type: ignore[union-attr]
    return value


def _insert(db: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    marks = ", ".join("?" for _ in columns)
    db.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
        ([_sqlite_value(v) for v in row] for row in rows),
    )


def _load_sqlite(path: Path, size: dataset.Size) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        json_columns = {"expertise", "links"}
        with db:
            _insert(db, "author", dataset.AUTHOR_COLUMNS,
                    _encode_json(dataset.authors(), dataset.AUTHOR_COLUMNS, json_columns))
            _insert(db, "ticker", dataset.TICKER_COLUMNS, dataset.tickers())
            _insert(db, "tag", dataset.TAG_COLUMNS, dataset.tags())
        progress = _progress(size.articles, "INSERT")
        for chunk in dataset.articles(size):
            with db:
                _insert(db, "article", dataset.ARTICLE_COLUMNS, chunk.articles)
                _insert(db, "article_ticker", dataset.ARTICLE_TICKER_COLUMNS, chunk.article_tickers)
                _insert(db, "article_tag", dataset.ARTICLE_TAG_COLUMNS, chunk.article_tags)
            if progress is not None:
                progress.update(len(chunk.articles))
        if progress is not None:
            progress.close()
        db.execute("ANALYZE")
    finally:
        db.close()


async def _build_cards(url: str) -> None:
    """The stored cards (`app.articles.documents`), which the loads above leave empty."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.articles.documents import refresh_stale_cards

    engine = create_async_engine(url)
    try:
        print(f"cards: {await refresh_stale_cards(engine.begin):,} built", flush=True)
        if url.startswith("postgresql"):
            # Rebuilding every card left a dead copy of every row behind.
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql("VACUUM ANALYZE article")
    finally:
        await engine.dispose()


def load(url: str, size: dataset.Size) -> None:
    """Creates the database afresh, migrates it to head and fills it."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        migrations.upgrade(url)
        _load_sqlite(path, size)
    else:
        asyncio.run(recreate_postgresql(url))
        migrations.upgrade(url)
        asyncio.run(_load_postgresql(url, size))
    asyncio.run(_build_cards(url))
