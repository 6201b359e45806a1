"""One reader of the changes log per process, fanning each change out to the process's
stream clients.

The reader holds `position`, the last `seq` it fanned out. A notification that the log
moved past it (`app.changes.notify`), a write of this process, the poll every
`stream_poll_seconds` and the moment the next scheduled article comes due each wake it;
it then logs the articles that came due, reads every change after `position` in one
query per batch, encodes each as an SSE event once, and offers the same bytes to every
client whose filter it matches. However many clients, a change costs the process one
read.

Seq order is commit order (`app.changes.log`), so reading `seq > position` never skips a
change that commits later. The reader moves `position` and offers an event without
yielding to the loop in between: a client that subscribes (and reads `position`) at any
moment is offered exactly the events after it.

Each client has a queue of at most `stream_queue_events` events. Offering never waits: a
client whose queue is full is closed with a last `error` event (its queue dropped at once,
so a slow client holds a bounded amount of memory) and resumes by Last-Event-ID.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import cards
from app.changes import queries as changes_queries
from app.changes.log import Appended
from app.changes.service import MAX_SEQ, log_due_articles
from app.changes.transitions import WITH_DETAIL
from app.db import ReadDatabase
from app.settings import Settings
from app.stream import queries
from app.changes.notify import Notifications

logger = logging.getLogger("tickerfeed.stream")

BATCH = 500
TOO_SLOW = b'event: error\ndata: {"reason":"too slow: resume with Last-Event-ID"}\n\n'
SHUTTING_DOWN = b'event: error\ndata: {"reason":"server shutting down: resume with Last-Event-ID"}\n\n'


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    tickers: frozenset[int]
    encoded: bytes  # `id:`, `event:` and `data:` lines, as sent


def encode(row: Mapping[str, Any], site_url: str) -> Event | None:
    """The change as an SSE event; None for a published or updated article that is no
    longer visible (a later change says so)."""
    if row["card"] is not None:
        data: Any = cards.card(cards.parse_card(row["card"]), site_url)
    elif row["type"] in WITH_DETAIL:
        return None
    else:
        data = {"id": row["article_id"], "slug": row["slug"]}
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    encoded = b"id: %d\nevent: %s\ndata: %s\n\n" % (row["seq"], row["type"].encode(), body)
    return Event(seq=row["seq"], tickers=frozenset(row["tickers"] or ()), encoded=encoded)


class Subscriber:
    """A client's queue: events offered by the reader, taken by its response."""

    def __init__(self, ticker_ids: frozenset[int], capacity: int) -> None:
        self.ticker_ids = ticker_ids
        self.capacity = capacity
        self.queue: deque[Event] = deque()
        self.ready = asyncio.Event()
        self.closing: bytes | None = None
        # While it replays the log, a full queue only means "read the log further".
        self.replaying = True
        self.behind = False

    def offer(self, event: Event) -> None:
        if self.closing is not None or (self.ticker_ids and not self.ticker_ids & event.tickers):
            return
        if len(self.queue) >= self.capacity:
            self.queue.clear()
            if self.replaying:
                self.behind = True
                return
            self.close(TOO_SLOW)
            return
        self.queue.append(event)
        self.ready.set()

    def close(self, reason: bytes) -> None:
        self.closing = reason
        self.queue.clear()
        self.ready.set()

    async def next(self) -> Event | bytes:
        """The next event, or the last words when the client is being closed."""
        while not self.queue and self.closing is None:
            self.ready.clear()
            await self.ready.wait()
        if self.closing is not None:
            return self.closing
        return self.queue.popleft()


class TooManyClients(Exception):
    pass


class NotStarted(Exception):
    pass


class ChangeFeed:
    def __init__(
        self, settings: Settings, notifications: Notifications, *, reads: ReadDatabase,
        sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.notifications = notifications
        self.reads = reads
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.position = 0
        # Whether `position` is the log's: false until the head was read.
        self.started = False
        self.subscribers: set[Subscriber] = set()
        self.wake = asyncio.Event()
        self.next_due: datetime | None = None
        self.task: asyncio.Task[None] | None = None
        # Closed (at shutdown, or never started): a stream ends at once, with the reason.
        self.closed = False

    async def start(self) -> None:
        """Starts from the log's head: a process serves what happens from now on. A database
        that does not answer yet does not stop the process starting (`/readyz` says so):
        the reader finds the head once it answers, and streams wait for it."""
        with contextlib.suppress(Exception):
            await self._find_head()
        await self.notifications.start(self.notified)
        self.task = asyncio.create_task(self._read_forever())

    async def _find_head(self) -> None:
        async with self.reads.connect() as connection:
            self.position = (await changes_queries.read_head(connection)).last_seq
        self.started = True

    def notified(self, seq: int | None) -> None:
        if seq is None or seq > self.position:
            self.wake.set()

    async def logged(self, appended: Appended) -> None:
        """A write of this process committed changes (or scheduled an article): read them
        now, and tell the other processes."""
        self.notified(appended.last_seq)
        await self.notifications.publish(appended.payload)

    def subscribe(self, ticker_ids: Sequence[int]) -> tuple[Subscriber, int]:
        """A new client's queue, and the `seq` after which it is offered every event."""
        subscriber = Subscriber(frozenset(ticker_ids), self.settings.stream_queue_events)
        if self.closed:
            subscriber.close(SHUTTING_DOWN)
            return subscriber, self.position
        if not self.started:
            raise NotStarted
        if len(self.subscribers) >= self.settings.stream_max_clients:
            raise TooManyClients
        self.subscribers.add(subscriber)
        return subscriber, self.position

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def replay(self, *, after: int, until: int, ticker_ids: Sequence[int]) -> AsyncIterator[Event]:
        """The events after `after` up to `until`, from the log, a batch per connection."""
        while after < until:
            async with self.reads.connect() as connection:
                rows = await queries.read_changes(
                    connection, after=after, until=until, limit=BATCH, now=self.clock(), ticker_ids=ticker_ids
                )
            if not rows:
                return
            for row in rows:
                event = encode(row, self.settings.site_url)
                if event is not None:
                    yield event
            after = rows[-1]["seq"]

    async def _wait(self) -> None:
        timeout = self.settings.stream_poll_seconds
        if self.next_due is not None:
            timeout = min(timeout, max(0.0, (self.next_due - self.clock()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)
        self.wake.clear()

    async def _read_forever(self) -> None:
        while True:
            await self._wait()
            try:
                await self.read_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  (a database hiccup must not end the stream)
                logger.warning("changes log not read; trying again at the next poll", exc_info=True)
                # Not at once: a due article that cannot be logged would otherwise spin here.
                await asyncio.sleep(self.settings.stream_poll_seconds)

    async def read_once(self) -> None:
        """Logs the scheduled articles that came due, then fans out every change after
        `position`."""
        if not self.started:
            await self._find_head()
        now = self.clock()
        async with self.reads.connect() as connection:
            await log_due_articles(self.sessionmaker, connection, now=now)
            while await self._fan_out_batch(connection, now):
                pass
            self.next_due = await changes_queries.next_due(connection)

    async def _fan_out_batch(self, connection: AsyncConnection, now: datetime) -> bool:
        """Fans out the next batch; whether there may be more."""
        rows = await queries.read_changes(connection, after=self.position, until=MAX_SEQ, limit=BATCH, now=now)
        for row in rows:
            event = encode(row, self.settings.site_url)
            self.position = row["seq"]
            if event is not None:
                for subscriber in tuple(self.subscribers):
                    subscriber.offer(event)
                # Each client's response takes its event before the next is offered: a burst
                # of changes (a rename updates every article showing it) fills no queue of
                # a client that keeps up.
                await asyncio.sleep(0)
        return len(rows) == BATCH

    async def close(self) -> None:
        self.closed = True
        for subscriber in self.subscribers:
            subscriber.close(SHUTTING_DOWN)
        self.subscribers.clear()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.notifications.close()
