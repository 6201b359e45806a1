"""What the workloads request: slugs, symbols, words and deep cursors taken from the database."""

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

from app.models import Article, Ticker
from app.pagination import CursorCodec, filter_scope
from bench.dataset import TOPICS

VISIBLE = "status = 'published' AND deleted_at IS NULL"


@dataclass(frozen=True)
class Inputs:
    article_count: int
    slugs: list[str]
    symbols: list[str]
    words: list[str]
    # (depth, cursor): the cursor that asks for the page after `depth` articles.
    deep_cursors: list[tuple[int, str]]
    server_version: str


def deep_cursor(secret: str, key: tuple[datetime, int]) -> str:
    """The `next_cursor` the API itself would hand out after the row with `key`."""
    return CursorCodec(secret).encode(list(key), filter_scope("articles"))


async def _gather(url: str, secret: str, depths: list[int]) -> Inputs:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            count = (await connection.execute(select(func.count()).select_from(Article))).scalar_one()
            rng = random.Random(7)
            ids = [rng.randint(1, count) for _ in range(2000)] if count else []
            slugs = list((await connection.execute(select(Article.slug).where(col(Article.id).in_(ids)))).scalars())
            symbols = list((await connection.execute(select(Ticker.symbol))).scalars())
            cursors = []
            for depth in depths:
                if depth >= count:  # tiny smoke-test datasets: half way down instead
                    depth = count // 2
                if depth < 1 or any(depth == seen for seen, _ in cursors):
                    continue
                row = (await connection.execute(
                    select(Article.published_at, Article.id).where(text(VISIBLE))
                    .order_by(col(Article.published_at).desc(), col(Article.id).desc())
                    .offset(depth - 1).limit(1)
                )).one()
                cursors.append((depth, deep_cursor(secret, (row[0], row[1]))))
            if engine.dialect.name == "postgresql":
                version = (await connection.execute(text("SHOW server_version"))).scalar_one()
                version = f"PostgreSQL {version}"
            else:
                version = "SQLite " + (await connection.execute(text("SELECT sqlite_version()"))).scalar_one()
    finally:
        await engine.dispose()
    return Inputs(count, slugs, symbols, list(TOPICS), cursors, version)


def gather(url: str, secret: str, depths: list[int]) -> Inputs:
    return asyncio.run(_gather(url, secret, depths))
