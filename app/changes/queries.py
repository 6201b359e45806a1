"""Reading the changes log: a page after a `seq`, each change with its article's detail.

A page lists the changes after the cursor that no later change of the same article (that
the page's filter keeps) supersedes: a mirror ends where the last change of each article
leaves it, so an earlier one adds nothing, and its `article` could no longer be shown
(the article may be a draft now, or deleted). Each listed `article.published` or
`article.updated` is then its article's latest change, and its `article` is the article's
detail as it is now, read with the change in one statement, by the one detail mapping
(`app.articles.queries.detail_object`, `app.articles.cards.detail`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, case, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.articles.queries import detail_object, stored_card
from app.changes.log import HEAD_ID, change, change_ticker, head, mirror_state
from app.changes.transitions import WITH_DETAIL
from app.models import Article, Author
from app.sql import any_of, fetch_all

AFTER = bindparam("after", type_=BigInteger())


@dataclass(frozen=True)
class Head:
    last_seq: int
    pruned_seq: int


def matches_tickers(seq: Any, dialect: str) -> Any:
    """The change `seq` matches one of the tickers `:ticker_ids`."""
    return exists().where(change_ticker.c.seq == seq, any_of(change_ticker.c.ticker_id, "ticker_ids", dialect, Integer))


def article_of_change(*, detail: bool) -> Any:
    """For `article.published` and `article.updated`, the change's article as the object
    `parse_card` reads (with `detail`, what its page adds), while it is shown; else NULL.
    Shown by status, not by `published_at`: the appender judged it due by its own clock,
    which may be a moment ahead of this request's; the status still keeps a draft from
    ever being shown."""
    shown = (col(Article.status) == "published") & col(Article.deleted_at).is_(None)
    rows = select(detail_object() if detail else stored_card()).select_from(Article)
    if detail:
        rows = rows.join(Author, col(Author.id) == Article.author_id)
    article = rows.where(col(Article.id) == change.c.article_id, shown).correlate(change).scalar_subquery()
    # Written into the SQL: `fetch_all` runs statements compiled once, without expanding IN.
    with_detail = or_(*(change.c.type == literal_column(f"'{kind}'") for kind in WITH_DETAIL))
    return case((with_detail, article), else_=None).label("card")


@cache
def page_statement(dialect: str, filtered: bool, limit: int) -> Any:
    """The changes after `:after` that no later (kept) change of their article supersedes,
    in `seq` order, at most `limit`.

    The limit is written into the statement, not bound: after a few runs PostgreSQL plans a
    prepared statement once for any values, and not knowing that the limit was small it
    chose a parallel plan, 72 ms a page instead of 5 at 1M (EXPLAIN ANALYZE of the generic
    plan). One statement per page size, of which clients use few."""
    later = change.alias("later")
    superseded = exists().where(later.c.article_id == change.c.article_id, later.c.seq > change.c.seq)
    if filtered:
        superseded = superseded.where(matches_tickers(later.c.seq, dialect))
    rows = select(change.c.seq, change.c.type, change.c.occurred_at, change.c.article_id, change.c.slug, article_of_change(detail=True))
    rows = rows.where(change.c.seq > AFTER, ~superseded)
    if filtered:
        rows = rows.where(matches_tickers(change.c.seq, dialect))
    return rows.order_by(change.c.seq).limit(literal_column(str(int(limit))))


HEAD_STATEMENT = select(head.c.last_seq, head.c.pruned_seq).where(head.c.id == HEAD_ID)
ANY_DUE = select(exists().where(mirror_state.c.due_at <= bindparam("now")))
NEXT_DUE = select(func.min(mirror_state.c.due_at))


async def read_head(connection: AsyncConnection) -> Head:
    row = (await connection.execute(HEAD_STATEMENT)).one()
    return Head(last_seq=row.last_seq, pruned_seq=row.pruned_seq)


async def any_due(connection: AsyncConnection, now: Any) -> bool:
    """Whether a scheduled article has come due and waits to be logged: one index look-up,
    so a poll takes the appenders' lock only when there is something to log."""
    return bool((await connection.execute(ANY_DUE.params(now=now))).scalar())


async def next_due(connection: AsyncConnection) -> Any:
    """When the next scheduled article comes due, None when none waits."""
    return (await connection.execute(NEXT_DUE)).scalar()


async def read_changes(
    connection: AsyncConnection, *, after: int, limit: int, ticker_ids: Sequence[int]
) -> list[Mapping[str, Any]]:
    statement = page_statement(connection.dialect.name, bool(ticker_ids), limit)
    parameters = {"after": after, "ticker_ids": list(ticker_ids)}
    return await fetch_all(connection, statement, parameters)
