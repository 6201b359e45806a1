"""What the workloads request: slugs, symbols, words, deep cursors and authors taken from the database."""

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

from app.models import Article, Author, Ticker
from app.pagination import CursorCodec, filter_scope
from bench.dataset import TOPICS

VISIBLE = "status = 'published' AND deleted_at IS NULL"
SLUG_COUNT = 2000


@dataclass(frozen=True)
class Inputs:
    article_count: int
    slugs: list[str]
    # W2-long: the articles with the longest bodies; every dataset body comes from one of six
    # templates, so these are mostly the longest template's (see bench/dataset.py).
    long_slugs: list[str]
    # Mean length of `body_html` (characters) over `slugs` and over `long_slugs`.
    body_chars: int
    long_body_chars: int
    symbols: list[str]
    words: list[str]
    # (depth, cursor): the cursor that asks for the page after `depth` articles.
    deep_cursors: list[tuple[int, str]]
    server_version: str
    # Human authors: W8's writer publishes as one of them (an AI agent's article would
    # also carry an editorial review, which is not what W8 measures).
    authors: list[str]


def deep_cursor(secret: str, key: tuple[datetime, int]) -> str:
    """The `next_cursor` the API itself would hand out after the row with `key`."""
    return CursorCodec(secret).encode(list(key), filter_scope("articles"))


async def _gather(url: str, secret: str, depths: list[int]) -> Inputs:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            count = (await connection.execute(select(func.count()).select_from(Article))).scalar_one()
            rng = random.Random(7)
            ids = [rng.randint(1, count) for _ in range(SLUG_COUNT)] if count else []
            slugs = list((await connection.execute(select(Article.slug).where(col(Article.id).in_(ids)))).scalars())
            body_chars = (await connection.execute(
                select(func.avg(func.length(Article.body_html))).where(col(Article.id).in_(ids))
            )).scalar_one()
            # A full scan of the bodies (a few seconds at 1M); ties broken by id so every run
            # requests the same articles.
            length = func.length(Article.body_html)
            long_rows = (await connection.execute(
                select(Article.slug, length).where(text(VISIBLE))
                .order_by(length.desc(), col(Article.id).desc()).limit(SLUG_COUNT)
            )).all()
            authors = list((await connection.execute(
                select(Author.slug).where(col(Author.kind) == "human").order_by(col(Author.id))
            )).scalars())
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
    return Inputs(
        article_count=count, slugs=slugs, long_slugs=[row[0] for row in long_rows],
        body_chars=round(body_chars or 0),
        long_body_chars=round(sum(row[1] for row in long_rows) / len(long_rows)) if long_rows else 0,
        symbols=symbols, words=list(TOPICS), deep_cursors=cursors, server_version=version, authors=authors,
    )


def gather(url: str, secret: str, depths: list[int]) -> Inputs:
    return asyncio.run(_gather(url, secret, depths))
