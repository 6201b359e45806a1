"""The deliverer: log due articles, fan out, then send each endpoint's events in order.

`run_deliveries` is the loop `tickerfeed webhooks deliver [--watch]` runs, written to be
awaited by a longer-lived worker too. One loop claims due endpoints (one transaction per
look, whatever the concurrency: idle polling stays cheap, which matters on SQLite's one
writer), up to `concurrency` at once, and gives each a task of its own that sends its due
events one after another until none is due or one fails (the endpoint then waits for its
backoff). An endpoint that fails or is slow holds its task for at most
`webhook_timeout_seconds` per attempt and never delays the others while a place is free.
Database work is short transactions (`Database`); sending holds none.

Retries: after the n-th failed attempt the event waits `base * 2^(n-1)` (5 s, 10 s, 20 s,
…, at most 4 h), half of it drawn at random (equal jitter); it is given up (`failed`) at
the first failure `webhook_retry_hours` (24) after its first attempt, so every event is
tried for at least 24 h. An endpoint whose attempts have all failed for
`webhook_disable_after_hours` (72) is disabled, its pending events cancelled.
"""

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.backoff import exponential_backoff
from app.changes import queries
from app.changes.log import materialise_due
from app.db import utcnow
from app.metrics import count_deliveries
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
    """Short transactions for the loop and its tasks: in parallel on a PostgreSQL engine
    (up to its pool), one at a time on SQLite (one writer: waiting here beats its busy
    loop) and on a single connection (the tests')."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        bind = sessionmaker.kw.get("bind")
        parallel = isinstance(bind, AsyncEngine) and bind.dialect.name != "sqlite"
        self.lock: AbstractAsyncContextManager[Any] = nullcontext() if parallel else asyncio.Lock()

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


async def prepare(session: AsyncSession, settings: Settings, *, clock: Callable[[], datetime]) -> int:
    """Logs the scheduled articles that came due (the log's readers do it, and the
    deliverer may be its only one), then fans out; how many events were made."""
    now = clock()
    if await queries.any_due(await session.connection(), now):
        await session.run_sync(lambda sync: materialise_due(sync.connection(), now=now))
    return await fan_out(session, site_url=settings.site_url, clock=clock)


async def _send_claimed(
    database: Database, sender: Sender, claim: outbox.Claim, report: WebhookReport, *,
    clock: Callable[[], datetime], policy: outbox.Policy, events: int, stop: asyncio.Event,
) -> None:
    for _ in range(events):
        if stop.is_set():
            return
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
        # The outcomes every outbox counts (`/metrics`): a disabling attempt failed too.
        count_deliveries("webhook", {{"succeeded": "sent", "retrying": "retried"}.get(outcome, "failed"): 1})
        if outcome != "succeeded":
            logger.info("webhook endpoint %s, event %s: %s (%s)", claim.endpoint_id, event.id, outcome,
                        result.error or result.status_code)
            return


async def _deliver_claimed(
    database: Database, sender: Sender, claim: outbox.Claim, report: WebhookReport, **options: Any
) -> None:
    try:
        await _send_claimed(database, sender, claim, report, **options)
    except Exception:  # e.g. the database went away: the lease runs out, the event is sent again
        logger.exception("webhook endpoint %s: delivery stopped", claim.endpoint_id)
    finally:
        try:
            await database.run(lambda session: outbox.release(session, claim))
        except Exception:
            logger.exception("webhook endpoint %s: claim not released (its lease will run out)", claim.endpoint_id)


async def run_deliveries(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *,
    watch: float | None = None, stop: asyncio.Event | None = None, concurrency: int = 8,
    clock: Callable[[], datetime] = utcnow, resolver: Resolver = system_resolver,
    jitter: Callable[[], float] = random.random, events_per_claim: int = 20,
    on_progress: Callable[[WebhookReport], None] | None = None, wake: asyncio.Event | None = None,
) -> WebhookReport:
    """Delivers every due event, then returns. With `watch`, runs until `stop` is set,
    fanning out and looking for due endpoints every `watch` seconds, as soon as `wake` is
    set (the changes log moved: `app.changes.notify`), and whenever a sending task frees
    its place. One loop claims (a transaction per look, however many tasks), and each
    claimed endpoint is sent to by a task of its own; on `stop`, the tasks finish the
    attempt in flight and record it."""
    database, policy = Database(sessionmaker), policy_for(settings, jitter)
    lease = lease_for(settings, events_per_claim)
    stop = stop or asyncio.Event()
    options = {"clock": clock, "policy": policy, "events": events_per_claim, "stop": stop}
    report, told = WebhookReport(), WebhookReport()
    running: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    stopping = asyncio.ensure_future(stop.wait())
    wake = wake or asyncio.Event()
    woken = asyncio.ensure_future(wake.wait())
    next_fan_out = loop.time()
    async with Sender(settings, resolver=resolver) as sender:
        try:
            while not stop.is_set():
                if woken.done():
                    wake.clear()
                    woken = asyncio.ensure_future(wake.wait())
                    next_fan_out = loop.time()
                if loop.time() >= next_fan_out:
                    report.fanned_out += await database.run(lambda session: prepare(session, settings, clock=clock))
                    next_fan_out = loop.time() + (watch if watch is not None else float("inf"))
                free = concurrency - len(running)
                claims = await database.run(
                    lambda session: outbox.claim_endpoints(session, now=clock(), lease=lease, limit=free)
                ) if free else []
                for claim in claims:
                    task = asyncio.create_task(_deliver_claimed(database, sender, claim, report, **options))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if on_progress is not None and report != told:
                    told = replace(report)
                    on_progress(told)
                if watch is None and not running:
                    break
                await asyncio.wait({stopping, woken, *running}, timeout=watch, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            woken.cancel()
            if running:
                await asyncio.wait(running)
    return report

