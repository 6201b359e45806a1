"""`tickerfeed worker`: the one background process, its jobs running side by side in one
asyncio loop.

A job is a name, a step and an idle pause: the worker runs the step again at once while it
finds work (it returns how much it did) and waits `idle_seconds` when it did none. A step
that raises is logged and tried again after the pause, so a database outage pauses the
jobs instead of ending the process. Another job is one more entry in `JOBS`.

SIGTERM or SIGINT: no step starts any more; the mail in flight finishes the message it is
sending and hands back the rest of its batch (`app.mail.delivery`); a job still running
after `WORKER_SHUTDOWN_GRACE_SECONDS` is cancelled, which also hands its rows back. Then
the process exits 0.
"""

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.changes.notify import notifications_for
from app.db import create_engine, create_sessionmaker, utcnow
from app.mail.delivery import deliver_batch
from app.newsletters.mailing import EditionCache
from app.newsletters.schedule import queue_due_editions
from app.settings import Settings
from app.webhooks.delivery import run_deliveries

logger = logging.getLogger("tickerfeed.worker")
# How often webhook delivery looks for new changes and due events besides when told.
WEBHOOK_WATCH_SECONDS = 0.5


@dataclass
class WorkerContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime] = utcnow
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    batch_size: int = 100


@dataclass(frozen=True)
class Job:
    name: str
    step: Callable[[WorkerContext], Awaitable[int]]
    idle_seconds: float
    parallel: int = 1  # copies of the loop (the mail job: one SMTP connection each)


async def queue_editions(context: WorkerContext) -> int:
    await queue_due_editions(context.sessionmaker, context.settings, clock=context.clock)
    return 0  # one pass per pause: the next edition is due an hour later at the soonest


async def deliver_mail(context: WorkerContext) -> int:
    """One batch of due mail, on a short lease renewed while it is sent."""
    report = await deliver_batch(
        context.sessionmaker,
        context.settings,
        batch_size=context.batch_size,
        cache=EditionCache(),  # per batch: articles published since join the next one
        clock=context.clock,
        lease=timedelta(seconds=context.settings.worker_lease_seconds),
        stopping=context.stopping,
    )
    if report is None:
        return 0
    if report.sent or report.retried or report.failed:
        logger.info(
            "mail: sent %d, retry later %d, failed %d, skipped %d",
            report.sent, report.retried, report.failed, report.skipped,
        )
    # A batch that sent nothing (the SMTP server refuses) waits for the pause.
    return report.sent + report.skipped


async def deliver_webhooks(context: WorkerContext) -> int:
    """Webhook delivery keeps its own loop until the worker stops: fan-out and due events
    as soon as the changes log moves (the API processes' notifications, Redis or
    PostgreSQL's NOTIFY) and every `WEBHOOK_WATCH_SECONDS` besides, each claimed endpoint
    on a task of its own, so a slow endpoint holds back no other (`app.webhooks.delivery`)."""
    wake = asyncio.Event()
    notifications = notifications_for(context.settings)
    await notifications.start(lambda _seq: wake.set())
    try:
        report = await run_deliveries(
            context.sessionmaker, context.settings, watch=WEBHOOK_WATCH_SECONDS, stop=context.stopping,
            clock=context.clock, wake=wake,
        )
    finally:
        await notifications.close()
    return report.delivered


def mail_job(*, concurrency: int = 4, idle_seconds: float = 2) -> Job:
    return Job("mail", deliver_mail, idle_seconds, parallel=concurrency)


# The worker's jobs; webhook delivery joins as one more line.
JOBS: tuple[Job, ...] = (
    Job("editions", queue_editions, idle_seconds=30),
    mail_job(),
    Job("webhooks", deliver_webhooks, idle_seconds=WEBHOOK_WATCH_SECONDS),
)


def beat(path: str) -> None:
    """Touches the heartbeat file `tickerfeed worker --check` reads."""
    try:
        Path(path).touch()
    except OSError:
        logger.warning("cannot touch the heartbeat file %s", path)


def heartbeat_age(path: str) -> float | None:
    """Seconds since the worker last finished a round of work; None if it never did."""
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return None


async def _loop(job: Job, context: WorkerContext) -> None:
    while not context.stopping.is_set():
        try:
            done = await job.step(context)
            beat(context.settings.worker_heartbeat_file)
        except Exception:
            logger.exception("job %s failed; trying again in %ss", job.name, job.idle_seconds)
            done = 0
        if not done:
            try:
                await asyncio.wait_for(context.stopping.wait(), job.idle_seconds)
            except TimeoutError:
                pass


async def run_jobs(context: WorkerContext, jobs: Sequence[Job]) -> None:
    """Runs `jobs` until `context.stopping` is set, then lets them finish within the grace."""
    tasks = [
        asyncio.create_task(_loop(job, context), name=f"{job.name}-{copy}")
        for job in jobs
        for copy in range(job.parallel)
    ]
    stopped = asyncio.create_task(context.stopping.wait())
    await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    context.stopping.set()
    _, late = await asyncio.wait(tasks, timeout=context.settings.worker_shutdown_grace_seconds)
    for task in late:
        logger.warning("job %s did not stop within the grace period; cancelled", task.get_name())
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_worker(settings: Settings, jobs: Sequence[Job] = JOBS, *, batch_size: int = 100) -> None:
    """The process: one engine, the jobs, and SIGTERM/SIGINT as the way to stop."""
    engine = create_engine(settings)
    context = WorkerContext(settings, create_sessionmaker(engine), batch_size=batch_size)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stop, context, signum)
    logger.info("worker started: %s", ", ".join(f"{job.name}×{job.parallel}" for job in jobs))
    try:
        await run_jobs(context, jobs)
    finally:
        await engine.dispose()
    logger.info("worker stopped")


def _stop(context: WorkerContext, signum: int) -> None:
    logger.info("%s: stopping (nothing new is claimed)", signal.Signals(signum).name)
    context.stopping.set()
