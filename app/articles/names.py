"""Names a request gives (symbols, aliases, slugs) as ids, in one round trip."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.models import Author, Tag, Ticker, TickerAlias
from app.sql import any_of, fetch_all


@dataclass(frozen=True)
class Names:
    """Ids of what a request names: upper-case symbols and aliases, author and tag slugs."""

    tickers: dict[str, int]
    authors: dict[str, int]
    tags: dict[str, int]


def _kind(kind: str) -> Any:
    return literal_column(f"'{kind}'").label("kind")


@cache
def names_statement(dialect: str, tickers: bool, authors: bool, tags: bool) -> Any:
    parts = []
    if tickers:
        parts += [
            select(_kind("ticker"), col(Ticker.symbol).label("name"), col(Ticker.id).label("id"))
            .where(any_of(col(Ticker.symbol), "symbols", dialect)),
            select(_kind("ticker"), col(TickerAlias.alias).label("name"), col(TickerAlias.ticker_id).label("id"))
            .where(any_of(col(TickerAlias.alias), "symbols", dialect)),
        ]
    if authors:
        parts.append(
            select(_kind("author"), col(Author.slug).label("name"), col(Author.id).label("id"))
            .where(any_of(col(Author.slug), "author_slugs", dialect))
        )
    if tags:
        parts.append(
            select(_kind("tag"), col(Tag.slug).label("name"), col(Tag.id).label("id"))
            .where(any_of(col(Tag.slug), "tag_slugs", dialect))
        )
    return union_all(*parts) if len(parts) > 1 else parts[0]


async def resolve_names(
    connection: AsyncConnection,
    *,
    symbols: Sequence[str] = (),
    author_slugs: Sequence[str] = (),
    tag_slugs: Sequence[str] = (),
) -> Names:
    """Symbols (or aliases, any case), author slugs and tag slugs to ids, in one round trip
    and without loading anything else; unknown names are simply absent."""
    found = Names(tickers={}, authors={}, tags={})
    if not (symbols or author_slugs or tag_slugs):
        return found
    parameters = {
        "symbols": sorted({symbol.upper() for symbol in symbols}),
        "author_slugs": list(author_slugs),
        "tag_slugs": list(tag_slugs),
    }
    statement = names_statement(connection.dialect.name, bool(symbols), bool(author_slugs), bool(tag_slugs))
    by_kind = {"ticker": found.tickers, "author": found.authors, "tag": found.tags}
    for row in await fetch_all(connection, statement, parameters):
        by_kind[row["kind"]][row["name"]] = row["id"]
    return found
