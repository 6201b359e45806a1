"""A stream client's events: the log replayed after its Last-Event-ID, then live ones,
without a gap or a repeat (`app.stream.feed` says why the hand-over is exact)."""

from collections.abc import AsyncIterator, Sequence

import anyio

from sqlalchemy.ext.asyncio import AsyncConnection

from app.changes import queries as changes_queries
from app.problems import ResyncRequired, ServiceUnavailable
from app.stream.feed import SHUTTING_DOWN, ChangeFeed, NotStarted, Subscriber, TooManyClients

RETRY_AFTER_SECONDS = 5


async def check_resumable(connection: AsyncConnection, last_event_id: int | None) -> None:
    """A 410 when changes after `last_event_id` have been pruned."""
    if last_event_id is None:
        return
    head = await changes_queries.read_head(connection)
    if last_event_id < head.pruned_seq:
        raise ResyncRequired(
            "Changes after this Last-Event-ID have been pruned: resync from `GET /v1/articles` "
            "(or `GET /v1/changes`), then open the stream again without it."
        )


def subscribe(feed: ChangeFeed, ticker_ids: Sequence[int]) -> tuple[Subscriber, int]:
    try:
        return feed.subscribe(ticker_ids)
    except TooManyClients:
        detail = "This server streams to as many clients as it can: connect again in a moment."
    except NotStarted:
        detail = "This server has not read the changes log yet: connect again in a moment."
    raise ServiceUnavailable(detail, retry_after=RETRY_AFTER_SECONDS)


async def client_events(
    feed: ChangeFeed, subscriber: Subscriber, *, last_event_id: int | None, live_from: int, ticker_ids: Sequence[int]
) -> AsyncIterator[bytes]:
    """Each event after `last_event_id` (from `live_from` without one), as sent; then the
    reason, when the client is closed."""
    try:
        last = live_from if last_event_id is None else last_event_id
        while last_event_id is not None and subscriber.closing is None:
            async for event in feed.replay(after=last, until=live_from, ticker_ids=ticker_ids):
                yield event.encoded
                last = event.seq
            last = max(last, live_from)
            if not subscriber.behind:
                break
            # Live events came faster than the replay and were dropped: replay those too.
            subscriber.behind = False
            live_from = feed.position
        subscriber.replaying = False
        while True:
            item = await subscriber.next()
            if isinstance(item, bytes):
                yield item
                return
            if item.seq > last:
                yield item.encoded
                last = item.seq
    finally:
        feed.unsubscribe(subscriber)


async def close_at(shutdown: anyio.Event, subscriber: Subscriber) -> None:
    """Ends the client's stream with its reason when the server shuts down."""
    await shutdown.wait()
    subscriber.close(SHUTTING_DOWN)
