"""The durable outbox: a mail is a row before it is an SMTP transaction."""

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from app.models.base import Timestamped, timestamp


class OutboundEmail(Timestamped, table=True):
    __tablename__ = "outbound_email"
    __table_args__ = (
        # Each subscriber gets an edition at most once, however often or concurrently it is queued.
        # Confirmation mails leave the edition columns NULL, which never collide.
        UniqueConstraint("newsletter_id", "edition_date", "subscriber_id"),
        Index("ix_outbound_email_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    # A subscriber's mail, or a reader's sign-in link (`reader_sign_in_id`).
    subscriber_id: int | None = Field(
        default=None, foreign_key="subscriber.id", ondelete="CASCADE", index=True
    )
    newsletter_id: int | None = Field(default=None, foreign_key="newsletter.id", ondelete="CASCADE")
    edition_date: date | None = None
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = timestamp()
    lease_until: datetime | None = timestamp(nullable=True)
    claim_token: str | None = Field(default=None, max_length=32)
    # A confirmation mail is rendered, and its link minted, when it is sent: the row names
    # the token and never holds the link (issue 10, item 8).
    confirmation_token_id: int | None = Field(
        default=None, foreign_key="confirmation_token.id", ondelete="CASCADE"
    )
    reader_sign_in_id: int | None = Field(
        default=None, foreign_key="reader_sign_in.id", ondelete="CASCADE", index=True
    )
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = timestamp(nullable=True)
