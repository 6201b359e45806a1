"""Fan-out: the changes log becomes events in each endpoint's delivery outbox.

Durability: each endpoint keeps a fan-out cursor, `fanout_seq`, the last `seq` of the log
its events were made from. One transaction reads the changes after the cursors, inserts
the events and moves the cursors: a crash before its commit leaves neither, and the next
run makes them again; after it, both. So no change is lost or fanned out twice (and
`UNIQUE (endpoint_id, change_seq)` would refuse a second copy anyway). The endpoints are
locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's writer lock) so two deliverers
never fan out to one endpoint at once.

Why a cursor rather than fanning out in the transaction that appends the change: the
append runs in every editor's write under the appenders' lock, and would then also read
the endpoints and insert an event per endpoint there, lengthening the lock every writer
waits for; scheduled articles come due without a write, logged by whoever reads the log
next. Reading the log afterwards costs one indexed range read per round, holds no lock a
writer needs, and is safe because `seq` order is commit order (`app.changes.log`): once
the head says `last_seq`, every change up to it is committed and visible, and none can
later appear behind a cursor.

The changes are read by the very statement and mapping `GET /v1/changes` uses
(`app.changes.queries`, `app.changes.service.change_item`), so an event's `data` is the
change exactly as that list shows it; like the list, it folds a change into a later
change of the same article already logged when the events are made (the endpoint then
hears the later one, which says where the article ended).

A new endpoint starts at the head: it hears of changes from its creation on. A disabled
one is left out and, when enabled again, starts at the head again (its owner catches up
from `GET /v1/changes`).
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.changes import queries
from app.changes.log import change_ticker
from app.changes.service import change_item
from app.models import WebhookEndpoint, WebhookEvent

PAGE = 500
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
event_table = WebhookEvent.__table__  # type: ignore[attr-defined]


def message_id(event_id: int) -> str:
    """An event's `webhook-id`: the same on every attempt, so receivers can drop repeats."""
    return f"msg_{event_id}"


def body(kind: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """An event's body: `{"type", "timestamp", "data"}`, as the list's JSON writes it."""
    return orjson.dumps({"type": kind, "timestamp": timestamp, "data": data}, option=orjson.OPT_UTC_Z).decode()


async def _tickers(session: AsyncSession, seqs: list[int]) -> dict[int, set[int]]:
    tickers: dict[int, set[int]] = defaultdict(set)
    if seqs:
        rows = await session.exec(select(change_ticker.c.seq, change_ticker.c.ticker_id).where(change_ticker.c.seq.in_(seqs)))
        for seq, ticker_id in rows:
            tickers[seq].add(ticker_id)
    return tickers


def _matches(endpoint: WebhookEndpoint, row: Any, tickers: set[int]) -> bool:
    if row["seq"] <= endpoint.fanout_seq or row["type"] not in endpoint.events:
        return False
    return not endpoint.ticker_ids or bool(tickers & set(endpoint.ticker_ids))


async def fan_out(session: AsyncSession, *, site_url: str, clock: Callable[[], datetime]) -> int:
    """Makes the events of the changes logged since each enabled endpoint's cursor; how many."""
    statement = select(WebhookEndpoint).where(col(WebhookEndpoint.enabled)).order_by(col(WebhookEndpoint.id))
    endpoints = list((await session.exec(statement.with_for_update(skip_locked=True))).all())
    connection = await session.connection()
    # Read before the page: every change up to `last_seq` is committed and in it.
    head = await queries.read_head(connection)
    endpoints = [endpoint for endpoint in endpoints if endpoint.fanout_seq < head.last_seq]
    if not endpoints:
        return 0
    now = clock()
    after, made = min(endpoint.fanout_seq for endpoint in endpoints), 0
    while True:
        rows = await queries.read_changes(connection, after=after, limit=PAGE + 1, ticker_ids=[])
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        tickers = await _tickers(session, [row["seq"] for row in rows])
        events = []
        for row in rows:
            payload = body(row["type"], row["occurred_at"], change_item(row, site_url))
            events += [
                {"endpoint_id": endpoint.id, "change_seq": row["seq"], "type": row["type"], "payload": payload,
                 "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
                for endpoint in endpoints
                if _matches(endpoint, row, tickers[row["seq"]])
            ]
        if events:
            await connection.execute(insert(event_table), events)
        made += len(events)
        last = rows[-1]["seq"] if rows else after
        after = last if more else max(last, head.last_seq)
        if not more:
            break
    ids = [endpoint.id for endpoint in endpoints]
    await session.exec(
        update(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(ids), col(WebhookEndpoint.fanout_seq) < after)
        .values(fanout_seq=after)
    )
    return made
