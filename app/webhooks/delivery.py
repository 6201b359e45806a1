"""The deliverer: log due articles, fan out, then send each endpoint's events in order.

`run_deliveries` is the loop `tickerfeed webhooks deliver [--watch]` runs, written to be
awaited by a longer-lived worker too. `concurrency` tasks each claim one endpoint at a
time and send its due events one after another until none is due or one fails (then it
waits for its backoff, and the task claims another endpoint): an endpoint that fails or
is slow holds at most one task for at most `webhook_timeout_seconds` per attempt, and
never delays the others while another task is free. Database work is short transactions
taken one at a time (`Database`); sending holds none.

Retries: after the n-th failed attempt the event waits `base * 2^(n-1)` (5 s, 10 s, 20 s,
…, at most 4 h), half of it drawn at random (equal jitter); it is given up (`failed`) at
the first failure `webhook_retry_hours` (24) after its first attempt, so every event is
tried for at least 24 h. An endpoint whose attempts have all failed for
`webhook_disable_after_hours` (72) is disabled, its pending events cancelled.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.backoff import exponential_backoff
from app.changes import queries
from app.changes.log import materialise_due
from app.db import utcnow
from app.settings import Settings
from app.webhooks import outbox
from app.webhooks.fanout import fan_out, message_id
from app.webhooks.sender import Sender
from app.webhooks.targets import Resolver, system_resolver

logger = logging.getLogger("tickerfeed.webhooks")
T = TypeVar("T")


@dataclass
class WebhookReport:
    fanned_out: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0

    def __bool__(self) -> bool:
        return any(getattr(self, field.name) for field in fields(self))


class Database:
    """One short transaction at a time: the tasks share a connection in tests, and the
    deliverer's work between sends is a handful of statements."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self.lock = asyncio.Lock()

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.lock, self.sessionmaker() as session, session.begin():
            return await work(session)


def policy_for(settings: Settings, jitter: Callable[[], float] = random.random) -> outbox.Policy:
    def backoff(attempts: int) -> timedelta:
        return exponential_backoff(
            attempts, base_seconds=settings.webhook_retry_base_seconds,
            max_seconds=settings.webhook_max_backoff_seconds, jitter=jitter,
        )

    return outbox.Policy(
        backoff=backoff, retry_for=timedelta(hours=settings.webhook_retry_hours),
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
    )


def lease_for(settings: Settings, events: int) -> timedelta:
    """Long enough for `events` attempts at their slowest: a lease that ran out mid-send
    would let a second deliverer send the endpoint's next event out of order."""
    return timedelta(seconds=events * settings.webhook_timeout_seconds + 60)


async def prepare(session: AsyncSession, settings: Settings, *, now: datetime) -> int:
    """Logs the scheduled articles that came due (the log's readers do it, and the
    deliverer may be its only one), then fans out; how many events were made."""
    if await queries.any_due(await session.connection(), now):
        await session.run_sync(lambda sync: materialise_due(sync.connection(), now=now))
    return await fan_out(session, site_url=settings.site_url, now=now)


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def _send_claimed(
    database: Database, sender: Sender, claim: outbox.Claim, report: WebhookReport, *,
    clock: Callable[[], datetime], policy: outbox.Policy, events: int,
) -> None:
    for _ in range(events):
        event = await database.run(lambda session: outbox.next_event(session, claim, now=clock()))
        if event is None:
            return
        result = await sender.send(
            claim.url, secret=claim.secret, message_id=message_id(event.id), body=event.payload.encode(), now=clock()
        )
        outcome = await database.run(
            lambda session: outbox.record(session, claim, event, result, now=clock(), policy=policy)
        )
        if outcome is None:
            logger.warning("webhook endpoint %s: claim lost while sending event %s", claim.endpoint_id, event.id)
            return
        field = {"succeeded": "delivered", "retrying": "retried", "failed": "failed", "disabled": "disabled"}[outcome]
        setattr(report, field, getattr(report, field) + 1)
        if outcome != "succeeded":
            logger.info("webhook endpoint %s, event %s: %s (%s)", claim.endpoint_id, event.id, outcome,
                        result.error or result.status_code)
            return


async def run_deliveries(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *,
    watch: float | None = None, stop: asyncio.Event | None = None, concurrency: int = 8,
    clock: Callable[[], datetime] = utcnow, resolver: Resolver = system_resolver,
    jitter: Callable[[], float] = random.random, events_per_claim: int = 20,
    on_progress: Callable[[WebhookReport], None] | None = None,
) -> WebhookReport:
    """Delivers every due event, then returns. With `watch`, runs until `stop` is set:
    fan-out every `watch` seconds, and each task looks for a due endpoint every `watch`
    seconds when it found none, without waiting for the others."""
    database, policy = Database(sessionmaker), policy_for(settings, jitter)
    lease = lease_for(settings, events_per_claim)
    stop = stop or asyncio.Event()
    report = WebhookReport()

    async def fanner() -> None:
        told = WebhookReport()
        while True:
            report.fanned_out += await database.run(lambda session: prepare(session, settings, now=clock()))
            if on_progress is not None and report != told:
                told = replace(report)
                on_progress(told)
            if watch is None or await _stopped(stop, watch):
                return

    async def worker(sender: Sender) -> None:
        while not stop.is_set():
            claim = await database.run(lambda session: outbox.claim_endpoint(session, now=clock(), lease=lease))
            if claim is None:
                if watch is None or await _stopped(stop, watch):
                    return
                continue
            try:
                await _send_claimed(database, sender, claim, report, clock=clock, policy=policy, events=events_per_claim)
            finally:
                await database.run(lambda session: outbox.release(session, claim))

    async with Sender(settings, resolver=resolver) as sender:
        if watch is None:
            await fanner()
            await asyncio.gather(*(worker(sender) for _ in range(concurrency)))
        else:
            await asyncio.gather(fanner(), *(worker(sender) for _ in range(concurrency)))
    return report
