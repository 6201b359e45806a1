"""The delivery outbox: claim an endpoint, take its next event, record each attempt.

In order per endpoint: a deliverer claims an *endpoint* (a lease, as the mail outbox
leases rows: `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`), and
only while it holds the claim does it send that endpoint's events, oldest first, one at
a time. The next event is the endpoint's pending event with the lowest id: it waits
until every earlier one was delivered or given up (`failed`), however many deliverers
run. A crashed deliverer's claim returns when its lease runs out, and the event it was
sending is sent again (at least once). Every record checks the claim is still held.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from app.webhooks.fanout import CANCELLED, DELIVERED, FAILED, PENDING
from app.webhooks.sender import Result

SUCCEEDED, RETRYING = "succeeded", "retrying"


@dataclass(frozen=True)
class Claim:
    endpoint_id: int
    token: str
    url: str
    secret: str


def _next_event_due(now: datetime) -> object:
    """The endpoint's next event (its pending one with the lowest id) is due."""
    earlier = WebhookEvent.__table__.alias("earlier")  # type: ignore[attr-defined]
    head = WebhookEvent.__table__.alias("head")  # type: ignore[attr-defined]
    before = exists().where(
        earlier.c.endpoint_id == head.c.endpoint_id, earlier.c.status == PENDING, earlier.c.id < head.c.id
    )
    return exists().where(
        head.c.endpoint_id == WebhookEndpoint.id, head.c.status == PENDING, head.c.next_attempt_at <= now, ~before
    )


async def claim_endpoints(session: AsyncSession, *, now: datetime, lease: timedelta, limit: int) -> list[Claim]:
    """Leases up to `limit` enabled endpoints whose next event is due and that nobody holds."""
    free = or_(col(WebhookEndpoint.lease_until).is_(None), col(WebhookEndpoint.lease_until) < now)
    candidates = (
        select(WebhookEndpoint.id).where(col(WebhookEndpoint.enabled), free, _next_event_due(now))
        .order_by(col(WebhookEndpoint.id)).limit(limit).with_for_update(skip_locked=True)
    )
    token = secrets.token_hex(16)
    statement = (
        update(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(candidates.scalar_subquery()))
        .values(lease_until=now + lease, claim_token=token)
        .returning(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret)
    )
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return [Claim(row.id, token, row.url, row.secret) for row in sorted(rows)]


async def release(session: AsyncSession, claim: Claim) -> None:
    await session.exec(
        update(WebhookEndpoint).where(col(WebhookEndpoint.id) == claim.endpoint_id, col(WebhookEndpoint.claim_token) == claim.token)
        .values(lease_until=None, claim_token=None)
    )


async def next_event(session: AsyncSession, claim: Claim, *, now: datetime) -> WebhookEvent | None:
    statement = (
        select(WebhookEvent).where(col(WebhookEvent.endpoint_id) == claim.endpoint_id, col(WebhookEvent.status) == PENDING)
        .order_by(col(WebhookEvent.id)).limit(1)
    )
    event = (await session.exec(statement)).first()
    return event if event is not None and event.next_attempt_at <= now else None


@dataclass(frozen=True)
class Policy:
    """When to retry, give up, and disable (`app.webhooks.delivery.policy_for`)."""

    backoff: Callable[[int], timedelta]  # attempts so far -> the wait
    retry_for: timedelta
    disable_after: timedelta


async def record(
    session: AsyncSession, claim: Claim, event: WebhookEvent, result: Result, *, now: datetime, policy: Policy
) -> str | None:
    """Records an attempt, while the claim is held: the outcome (`succeeded`, `retrying`,
    `failed`, or `disabled` when the endpoint was disabled by it); None when the claim was lost."""
    endpoint = (
        await session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id) == claim.endpoint_id, col(WebhookEndpoint.claim_token) == claim.token)
            .with_for_update()
        )
    ).first()
    if endpoint is None:
        return None
    attempt = event.attempts + 1
    first = event.first_attempted_at or now
    values: dict[str, object] = {"attempts": attempt, "first_attempted_at": first, "updated_at": now}
    outcome, retry_at, disabled = SUCCEEDED, None, False
    if result.succeeded:
        values |= {"status": DELIVERED, "finished_at": now}
        endpoint.failing_since = None
    else:
        endpoint.failing_since = endpoint.failing_since or now
        if now - endpoint.failing_since >= policy.disable_after:
            outcome, disabled = FAILED, True
        elif now - first >= policy.retry_for:
            outcome = FAILED
        else:
            outcome, retry_at = RETRYING, now + policy.backoff(attempt)
        values |= {"status": FAILED, "finished_at": now} if outcome == FAILED else {"next_attempt_at": retry_at}
    await session.exec(update(WebhookEvent).where(col(WebhookEvent.id) == event.id).values(**values))
    await session.exec(insert(WebhookAttempt).values(
        endpoint_id=claim.endpoint_id, event_id=event.id, attempt=attempt, attempted_at=now,
        duration_ms=result.duration_ms, status_code=result.status_code, error=result.error, outcome=outcome,
        next_retry_at=retry_at,
    ))
    if disabled:
        days = policy.disable_after / timedelta(days=1)
        await disable(session, endpoint, now=now, reason=f"every delivery failed for {days:g} days")
        return "disabled"
    endpoint.updated_at = now
    return outcome


async def disable(session: AsyncSession, endpoint: WebhookEndpoint, *, now: datetime, reason: str) -> None:
    """Stops deliveries: the endpoint's pending events are cancelled, none are made."""
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason
    endpoint.lease_until = endpoint.claim_token = None
    endpoint.updated_at = now
    await session.exec(
        update(WebhookEvent).where(col(WebhookEvent.endpoint_id) == endpoint.id, col(WebhookEvent.status) == PENDING)
        .values(status=CANCELLED, finished_at=now, updated_at=now)
    )
    await session.flush()

