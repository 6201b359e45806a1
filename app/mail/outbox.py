"""The outbox table: queue, claim with a lease, and record each attempt's result.

Claiming is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`.
PostgreSQL skips rows another deliverer holds; SQLite drops the locking clause but runs
the whole statement under its single writer lock. Either way two deliverers never
claim the same row, and a crashed deliverer's rows return once their lease expires.
"""

import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import and_, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import OutboundEmail, Subscriber, SubscriberNewsletter

QUEUED, SENDING, SENT, FAILED, SKIPPED = "queued", "sending", "sent", "failed", "skipped"


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_confirmation(
        self, *, subscriber_id: int, confirmation_token_id: int, now: datetime
    ) -> OutboundEmail:
        message = OutboundEmail(
            kind="confirmation",
            subscriber_id=subscriber_id,
            confirmation_token_id=confirmation_token_id,
            status=QUEUED,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def queue_edition(self, *, newsletter_id: int, day: date, now: datetime) -> int:
        """One row per active subscriber of the newsletter; rows already there are left alone."""
        recipients = (
            select(
                literal("edition"),
                col(Subscriber.id),
                literal(newsletter_id),
                literal(day),
                literal(QUEUED),
                literal(0),
                literal(now, type_=OutboundEmail.__table__.c.next_attempt_at.type),
                literal(now, type_=OutboundEmail.__table__.c.created_at.type),
                literal(now, type_=OutboundEmail.__table__.c.updated_at.type),
            )
            .join(
                SubscriberNewsletter, col(SubscriberNewsletter.subscriber_id) == col(Subscriber.id)
            )
            .where(
                Subscriber.status == "active", SubscriberNewsletter.newsletter_id == newsletter_id
            )
        )
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(OutboundEmail)
            .from_select(
                [
                    "kind",
                    "subscriber_id",
                    "newsletter_id",
                    "edition_date",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                    "updated_at",
                ],
                recipients,
            )
            .on_conflict_do_nothing(
                index_elements=["newsletter_id", "edition_date", "subscriber_id"]
            )
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return result.rowcount or 0

    async def retry_now(self, *, now: datetime) -> int:
        """Makes every queued mail that waits for a retry due now; the number of them."""
        statement = (
            update(OutboundEmail)
            .where(col(OutboundEmail.status) == QUEUED, col(OutboundEmail.next_attempt_at) > now)
            .values(next_attempt_at=now, updated_at=now)
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return result.rowcount or 0

    async def claim(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        max_attempts: int,
        only_ids: Sequence[int] | None = None,
    ) -> list[OutboundEmail]:
        """Leases up to `limit` due rows that have attempts left.

        A row whose last allowed attempt was claimed by a deliverer that then vanished
        (lease run out, still `sending`) is marked failed here rather than left behind.
        """
        await self.session.exec(  # type: ignore[call-overload]
            update(OutboundEmail)
            .where(
                col(OutboundEmail.status) == SENDING,
                col(OutboundEmail.lease_until) < now,
                col(OutboundEmail.attempts) >= max_attempts,
            )
            .values(
                status=FAILED,
                lease_until=None,
                updated_at=now,
                last_error="lease expired during the last attempt",
            )
        )
        due = and_(
            col(OutboundEmail.attempts) < max_attempts,
            or_(
                and_(
                    col(OutboundEmail.status) == QUEUED, col(OutboundEmail.next_attempt_at) <= now
                ),
                and_(col(OutboundEmail.status) == SENDING, col(OutboundEmail.lease_until) < now),
            ),
        )
        candidates = select(OutboundEmail.id).where(due)
        if only_ids is not None:
            candidates = candidates.where(col(OutboundEmail.id).in_(only_ids))
        candidates = (
            candidates.order_by(col(OutboundEmail.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim_token = secrets.token_hex(16)
        statement = (
            update(OutboundEmail)
            .where(col(OutboundEmail.id).in_(candidates.scalar_subquery()))
            .values(
                status=SENDING,
                lease_until=now + lease,
                claim_token=claim_token,
                attempts=col(OutboundEmail.attempts) + 1,
                updated_at=now,
            )
            .returning(OutboundEmail.id)
        )
        ids = list((await self.session.exec(statement)).scalars())  # type: ignore[call-overload]
        if not ids:
            return []
        rows = await self.session.exec(
            select(OutboundEmail)
            .where(col(OutboundEmail.id).in_(ids))
            .order_by(col(OutboundEmail.id))
            .execution_options(populate_existing=True)
        )
        return list(rows.all())

    async def finish(
        self,
        message: OutboundEmail,
        *,
        status: str,
        now: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        """Records an attempt, but only while this deliverer still holds the claim."""
        values: dict[str, object] = {
            "status": status,
            "updated_at": now,
            "lease_until": None,
            "last_error": error,
        }
        if status == SENT:
            values["sent_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        statement = (
            update(OutboundEmail)
            .where(
                col(OutboundEmail.id) == message.id,
                col(OutboundEmail.claim_token) == message.claim_token,
            )
            .values(**values)
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return bool(result.rowcount)

    async def finish_sent(self, messages: Sequence[OutboundEmail], *, now: datetime) -> int:
        """Marks a batch sent in one statement, for rows this deliverer still holds."""
        return await self._update_held(
            messages, status=SENT, sent_at=now, updated_at=now, lease_until=None, last_error=None
        )

    async def renew(self, claim_token: str, *, until: datetime, now: datetime) -> int:
        """Extends the lease of the rows a deliverer claimed and still holds (its heartbeat)."""
        statement = (
            update(OutboundEmail)
            .where(col(OutboundEmail.claim_token) == claim_token, col(OutboundEmail.status) == SENDING)
            .values(lease_until=until, updated_at=now)
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return result.rowcount or 0

    async def release(self, messages: Sequence[OutboundEmail], *, now: datetime) -> int:
        """Hands claimed rows back unsent (a worker stopping): due now for any deliverer,
        and the attempt the claim counted is given back."""
        return await self._update_held(
            messages,
            status=QUEUED,
            lease_until=None,
            next_attempt_at=now,
            attempts=col(OutboundEmail.attempts) - 1,
            updated_at=now,
        )

    async def _update_held(self, messages: Sequence[OutboundEmail], **values: object) -> int:
        """One statement for the rows of a batch (one claim) that its deliverer still holds."""
        if not messages:
            return 0
        statement = (
            update(OutboundEmail)
            .where(
                col(OutboundEmail.id).in_([message.id for message in messages]),
                col(OutboundEmail.claim_token) == messages[0].claim_token,
                col(OutboundEmail.status) == SENDING,
            )
            .values(**values)
        )
        result = await self.session.exec(statement)  # type: ignore[call-overload]
        return result.rowcount or 0
