"""Reading the changes log for the stream: every change after a `seq`, in order, each with
the tickers it matches and, for `article.published` and `article.updated`, its article's
card as lists show it now (`app.articles.queries.stored_card`, the one card mapping).

Unlike a page of `GET /v1/changes`, no change is left out for a later one: a live client
has already seen the earlier ones. A card is read only while its article is visible: one
that is not any more was unpublished or deleted since, and that later change is in the
log (appended in the transaction that hid it), so the stream skips the stale one.
"""

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.changes.log import change, change_ticker
from app.changes.queries import article_of_change, matches_tickers
from app.sql import fetch_all, json_array_agg

AFTER = bindparam("after", type_=BigInteger())
UNTIL = bindparam("until", type_=BigInteger())
LIMIT = bindparam("limit", type_=Integer())


def _tickers() -> Any:
    ids = select(json_array_agg(change_ticker.c.ticker_id)).where(change_ticker.c.seq == change.c.seq)
    return ids.correlate(change).scalar_subquery().label("tickers")


@cache
def changes_statement(dialect: str, filtered: bool) -> Any:
    """The changes after `:after` up to `:until`, in `seq` order, at most `:limit`; with
    `filtered`, those matching one of `:ticker_ids`."""
    rows = select(change.c.seq, change.c.type, change.c.article_id, change.c.slug, _tickers(), article_of_change(detail=False))
    rows = rows.where(change.c.seq > AFTER, change.c.seq <= UNTIL)
    if filtered:
        rows = rows.where(matches_tickers(change.c.seq, dialect))
    return rows.order_by(change.c.seq).limit(LIMIT)


async def read_changes(
    connection: AsyncConnection, *, after: int, until: int, limit: int, now: Any, ticker_ids: Sequence[int] = ()
) -> list[Mapping[str, Any]]:
    statement = changes_statement(connection.dialect.name, bool(ticker_ids))
    parameters = {"after": after, "until": until, "limit": limit, "now": now, "ticker_ids": list(ticker_ids)}
    return await fetch_all(connection, statement, parameters)
