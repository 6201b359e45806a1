"""Serving the changes log: the cursor, the pruned horizon, and scheduled articles logged
as they come due, before any page is read."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import cards
from app.articles.names import resolve_names
from app.changes import queries
from app.changes.log import materialise_due
from app.pagination import CursorCodec, PageRequest, filter_scope, set_next_link
from app.problems import FieldError, InvalidFields, ResyncRequired

MAX_SEQ = 2**63 - 1


def parse_seq(value: Any) -> int:
    """A `seq` the log could have handed out (BIGINT, from 0)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    if not 0 <= value <= MAX_SEQ:
        raise ValueError("expected a seq")
    return value


async def ticker_ids_of(
    connection: AsyncConnection, symbols: Sequence[str], *, loc: Sequence[str] = ("query", "ticker")
) -> list[int]:
    """The symbols (or aliases) as ticker ids; a 422 naming every unknown one at `loc`."""
    names = await resolve_names(connection, symbols=symbols)
    errors = [
        FieldError(loc=[*loc, index], msg=f"unknown ticker symbol '{symbol}'")
        for index, symbol in enumerate(symbols)
        if symbol.upper() not in names.tickers
    ]
    if errors:
        raise InvalidFields(errors)
    return sorted({names.tickers[symbol.upper()] for symbol in symbols})


async def log_due_articles(
    sessionmaker: async_sessionmaker[AsyncSession], connection: AsyncConnection, *, now: datetime
) -> None:
    """Logs the scheduled articles that came due, in a write transaction of its own that
    takes the appenders' lock: only when the index says there is one."""
    if not await queries.any_due(connection, now):
        return
    session: AsyncSession
    async with sessionmaker() as session:
        await session.run_sync(lambda sync: materialise_due(sync.connection(), now=now))
        await session.commit()


def change_item(row: Any, site_url: str) -> dict[str, Any]:
    """A change as the list shows it (and a webhook's `data`), from a `read_changes` row."""
    article = row["card"]
    return {
        "seq": row["seq"], "type": row["type"], "occurred_at": row["occurred_at"],
        "article_id": row["article_id"], "slug": row["slug"],
        "article": cards.detail(cards.parse_card(article), site_url) if article is not None else None,
    }


async def changes_page(
    request: Request, response: Response, connection: AsyncConnection, *,
    page: PageRequest, symbols: Sequence[str], now: datetime,
) -> dict[str, Any]:
    ticker_ids = await ticker_ids_of(connection, symbols)
    codec: CursorCodec = request.app.state.cursor_codec
    scope = filter_scope("changes", tickers=ticker_ids)
    after = codec.decode(page.cursor, scope, [parse_seq])[0] if page.cursor else 0
    await log_due_articles(request.app.state.sessionmaker, connection, now=now)
    # Read before the page: every change up to `head.last_seq` is committed and in it.
    head = await queries.read_head(connection)
    if page.cursor and after < head.pruned_seq:
        raise ResyncRequired(
            "Changes after this cursor have been pruned: resync from `GET /v1/articles` "
            "(or from the first page of this list, without a cursor), then follow the new cursor."
        )
    rows = await queries.read_changes(connection, after=after, limit=page.limit + 1, ticker_ids=ticker_ids)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    # A short page read everything after `after` up to the head: what it skipped was
    # superseded by a change it listed.
    last = rows[-1]["seq"] if rows else after
    next_cursor = codec.encode([last if more else max(last, head.last_seq)], scope)
    set_next_link(request, response, next_cursor if more else None)
    site_url = request.app.state.settings.site_url
    return {"items": [change_item(row, site_url) for row in rows], "next_cursor": next_cursor}
