"""The deliverer: claim due outbox rows, send them over one SMTP connection, record results.

Several deliverers (processes or tasks) may run at once; the claim keeps them apart.
A failed attempt goes back to `queued` with exponential backoff until
`mail_max_attempts`; only a permanent (5xx) refusal or the last attempt marks it `failed`.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import aiosmtplib
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.backoff import exponential_backoff
from app.db import utcnow
from app.mail.outbox import FAILED, QUEUED, SENT, SKIPPED, OutboxRepository
from app.metrics import count_deliveries
from app.mail.transport import TRANSIENT_ERRORS, Outgoing, SmtpConnection, is_permanent
from app.models import OutboundEmail
from app.newsletters.mailing import EditionCache, Unbuildable, compose
from app.settings import Settings

logger = logging.getLogger("tickerfeed.mail")
MAX_BACKOFF = timedelta(hours=6)
RELEASED = "released"  # an outcome only: the row goes back to `queued`, its attempt returned


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0  # handed back unsent by a deliverer told to stop

    def add(self, other: "DeliveryReport") -> None:
        for name in ("sent", "retried", "failed", "skipped", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Outcome:
    status: str
    error: str | None = None


def backoff(settings: Settings, attempts: int) -> timedelta:
    return exponential_backoff(
        attempts, base_seconds=settings.mail_retry_base_seconds, max_seconds=MAX_BACKOFF.total_seconds()
    )


async def _send_all(
    settings: Settings,
    messages: Sequence[OutboundEmail],
    composed: dict[int, Outgoing | Unbuildable | None],
    stopping: asyncio.Event | None = None,
) -> dict[int, Outcome]:
    """An outcome for every message, whatever goes wrong: none is left in `sending`. Once
    `stopping` is set, the messages not sent yet are released rather than sent."""
    outcomes: dict[int, Outcome] = {}
    pending: list[tuple[int, Outgoing]] = []
    for message in messages:
        assert message.id is not None
        built = composed.get(message.id)
        if built is None:
            outcomes[message.id] = Outcome(SKIPPED)
        elif isinstance(built, Unbuildable):
            outcomes[message.id] = Outcome(QUEUED, built.error)
        else:
            pending.append((message.id, built))
    if not pending:
        return outcomes
    try:
        async with SmtpConnection(settings) as smtp:
            for message_id, outgoing in pending:
                if stopping is not None and stopping.is_set():
                    break
                try:
                    await smtp.send(outgoing.message, recipient=outgoing.recipient)
                    outcomes[message_id] = Outcome(SENT)
                except TRANSIENT_ERRORS as error:
                    outcomes[message_id] = Outcome(
                        FAILED if is_permanent(error) else QUEUED, _describe(error)
                    )
                    if not smtp.client.is_connected:
                        raise
                except Exception as error:  # this one message is at fault, not the server
                    logger.exception("mail %s could not be sent", message_id)
                    outcomes[message_id] = Outcome(QUEUED, _describe(error))
                    await smtp.client.rset()  # a half-sent transaction must not carry over
    except Exception as error:
        # The connection is gone: whatever was not sent waits for the next attempt.
        if not isinstance(error, TRANSIENT_ERRORS):
            logger.exception("mail delivery stopped")
        for message_id, _ in pending:
            outcomes.setdefault(message_id, Outcome(QUEUED, _describe(error)))
    for message_id, _ in pending:
        outcomes.setdefault(message_id, Outcome(RELEASED))
    return outcomes


def _describe(error: BaseException) -> str:
    """What went wrong, for the outbox row and the log: an SMTP reply by its codes only, since
    servers quote the recipient's address in the text (issue 10, item 10)."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = ", ".join(str(refused.code) for refused in error.recipients)
        return f"{type(error).__name__}: {codes}"
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{type(error).__name__}: {error.code}"
    return f"{type(error).__name__}: {error}"[:500]


async def _record(
    session: AsyncSession,
    settings: Settings,
    messages: Sequence[OutboundEmail],
    outcomes: dict[int, Outcome],
    now: datetime,
) -> DeliveryReport:
    """Sent rows in one statement (a batch shares its claim); the rest one by one."""
    repository = OutboxRepository(session)
    sent = [message for message in messages if outcomes[message.id].status == SENT]  # type: ignore[index]
    released = [message for message in messages if outcomes[message.id].status == RELEASED]  # type: ignore[index]
    report = DeliveryReport(
        sent=await repository.finish_sent(sent, now=now),
        released=await repository.release(released, now=now),
    )
    for message in messages:
        outcome = outcomes[message.id]  # type: ignore[index]
        if outcome.status in (SENT, RELEASED):
            continue
        status, retry_at = outcome.status, None
        if status == QUEUED and message.attempts >= settings.mail_max_attempts:
            status = FAILED
        elif status == QUEUED:
            retry_at = now + backoff(settings, message.attempts)
        if not await repository.finish(
            message, status=status, now=now, error=outcome.error, retry_at=retry_at
        ):
            continue  # the lease ran out and another deliverer owns the row now
        field = {QUEUED: "retried", FAILED: "failed", SKIPPED: "skipped"}[status]
        setattr(report, field, getattr(report, field) + 1)
        if outcome.error:
            logger.warning(
                "mail %s to subscriber %s: %s (%s)",
                message.id,
                message.subscriber_id,
                status,
                outcome.error,
            )
    return report


async def deliver_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    batch_size: int,
    cache: EditionCache,
    clock: Callable[[], datetime] = utcnow,
    only_ids: Sequence[int] | None = None,
    lease: timedelta | None = None,
    stopping: asyncio.Event | None = None,
) -> DeliveryReport | None:
    """One claim-send-record round; None when nothing was due.

    With `lease` (the worker's), the claim is short and a heartbeat renews it every third of
    it while the batch is composed and sent: a deliverer that dies holds its mail for at most
    one lease. Without, the lease covers the whole batch at its slowest (`lease_for`). A
    batch cancelled midway hands its rows back.
    """
    renewed = lease is not None
    lease = lease if lease is not None else lease_for(settings, batch_size)
    if stopping is not None and stopping.is_set():
        return None
    async with sessionmaker() as session, session.begin():
        messages = await OutboxRepository(session).claim(
            now=clock(),
            limit=batch_size,
            lease=lease,
            max_attempts=settings.mail_max_attempts,
            only_ids=only_ids,
        )
    if not messages:
        return None
    heartbeat = (
        asyncio.create_task(_renew(sessionmaker, messages[0].claim_token, lease, clock))  # type: ignore[arg-type]
        if renewed else None
    )
    try:
        composed: dict[int, Outgoing | Unbuildable | None]
        try:
            async with sessionmaker() as session, session.begin():
                composed = await compose(session, settings, messages, now=clock(), cache=cache)
        except Exception as error:  # e.g. the database went away: the whole batch is retried
            logger.exception("composing mails %s failed", [m.id for m in messages])
            composed = {m.id: Unbuildable(_describe(error)) for m in messages}  # type: ignore[misc]
        outcomes = await _send_all(settings, messages, composed, stopping)
    except asyncio.CancelledError:
        # Stopped past the grace period: whatever this batch sent is unrecorded and will be
        # sent again (at most this batch); the rest goes back now, not after the lease.
        await asyncio.shield(_release(sessionmaker, messages, clock()))
        raise
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
    async with sessionmaker() as session, session.begin():
        report = await _record(session, settings, messages, outcomes, clock())
    count_deliveries("mail", asdict(report))
    return report


async def _renew(
    sessionmaker: async_sessionmaker[AsyncSession],
    claim_token: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> None:
    """The heartbeat: every third of the lease, pushes the claimed rows' lease out again."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            async with sessionmaker() as session, session.begin():
                now = clock()
                await OutboxRepository(session).renew(claim_token, until=now + lease, now=now)
        except Exception:  # the database is away: the next beat tries again within the lease
            logger.warning("could not renew the lease of claim %s", claim_token[:8], exc_info=True)


async def _release(
    sessionmaker: async_sessionmaker[AsyncSession], messages: Sequence[OutboundEmail], now: datetime
) -> None:
    try:
        async with sessionmaker() as session, session.begin():
            await OutboxRepository(session).release(messages, now=now)
    except Exception:  # the lease runs out instead
        logger.warning("could not release mails %s", [m.id for m in messages], exc_info=True)


def lease_for(settings: Settings, batch_size: int) -> timedelta:
    """Long enough for a whole batch at its slowest: each message may take several SMTP
    round trips of up to `smtp_timeout_seconds`, plus the connection and login. A lease
    that ran out mid-batch would let a second deliverer send the same mail again."""
    slowest = (batch_size * 4 + 4) * settings.smtp_timeout_seconds
    return timedelta(seconds=max(settings.mail_lease_seconds, slowest))


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    batch_size: int = 100,
    concurrency: int = 1,
    clock: Callable[[], datetime] = utcnow,
    only_ids: Sequence[int] | None = None,
) -> DeliveryReport:
    """Delivers until nothing is due, with `concurrency` SMTP connections in parallel."""
    total, cache = DeliveryReport(), EditionCache()

    async def worker() -> None:
        while True:
            report = await deliver_batch(
                sessionmaker,
                settings,
                batch_size=batch_size,
                cache=cache,
                clock=clock,
                only_ids=only_ids,
            )
            if report is None:
                return
            total.add(report)
            if report.sent == 0 and report.skipped == 0:
                return  # everything in the batch failed: the server is unwell, try again later

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total
