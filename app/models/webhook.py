"""Webhooks (issue 12, item 3): endpoints, the events fanned out to each, and every attempt.

`webhook_endpoint.fanout_seq` is the last change of the log (`article_change.seq`) the
endpoint's events were made from (`app.webhooks.fanout`); `webhook_event` is the durable
delivery outbox, one row per event and endpoint, delivered in `id` order per endpoint;
`webhook_attempt` the deliveries log.
"""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import Timestamped, timestamp


class WebhookEndpoint(Timestamped, table=True):
    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    events: list[str] = Field(default_factory=list, sa_type=JSON)
    # Ids, so a renamed ticker keeps its endpoints; empty: every article.
    ticker_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    # SECRET: the signing key as the endpoint's owner was given it (`whsec_` + base64). HMAC
    # needs the key itself, so it cannot be hashed; it is never shown again nor logged.
    secret: str = Field(max_length=100)
    enabled: bool = True
    disabled_at: datetime | None = timestamp(nullable=True)
    disabled_reason: str | None = Field(default=None, max_length=200)
    fanout_seq: int = Field(sa_type=BigInteger)
    # The first failed attempt since the last success: 3 days of failure disable the endpoint.
    failing_since: datetime | None = timestamp(nullable=True)
    # Held by the deliverer sending its events, so only one sends them, in order.
    lease_until: datetime | None = timestamp(nullable=True)
    claim_token: str | None = Field(default=None, max_length=32)


class WebhookEvent(Timestamped, table=True):
    __tablename__ = "webhook_event"
    __table_args__ = (
        # A change makes one event per endpoint, however often fan-out runs.
        UniqueConstraint("endpoint_id", "change_seq"),
        # An endpoint's next event: its pending row with the lowest id.
        Index("ix_webhook_event_endpoint_id_status_id", "endpoint_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(
        sa_column=Column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False)
    )
    # None for a `webhook.test` ping.
    change_seq: int | None = Field(default=None, sa_type=BigInteger)
    type: str = Field(max_length=32)
    # The body as sent, byte for byte on every attempt: the signature covers it.
    payload: str = Field(sa_type=Text)
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = timestamp()
    # Retries stop `webhook_retry_hours` after this, whatever the backoff drew.
    first_attempted_at: datetime | None = timestamp(nullable=True)
    finished_at: datetime | None = timestamp(nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """One try at delivering an event: the deliveries log, newest first by `id`."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_endpoint_id_id", "endpoint_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(
        sa_column=Column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), nullable=False)
    )
    event_id: int = Field(
        sa_column=Column(ForeignKey("webhook_event.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    attempt: int
    attempted_at: datetime = timestamp()
    duration_ms: int
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    # succeeded, retrying (then `next_retry_at`) or failed (given up).
    outcome: str = Field(max_length=16)
    next_retry_at: datetime | None = timestamp(nullable=True)
