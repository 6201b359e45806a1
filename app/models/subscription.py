"""Subscribers, what they receive, and the record of their consent."""

from datetime import datetime

from sqlalchemy import JSON, Index
from sqlmodel import Field, Relationship, SQLModel

from app.models.author import Author
from app.models.base import Timestamped, timestamp
from app.models.newsletter import Newsletter
from app.models.ticker import Ticker


class Subscriber(Timestamped, table=True):
    __table_args__ = (Index("ix_subscriber_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    # Lower-cased address: one subscriber per mailbox however its owner types it.
    email_key: str = Field(max_length=320, unique=True)
    status: str = Field(max_length=16)
    # Mixed into the manage and unsubscribe tokens; replacing it revokes every token handed out.
    token_nonce: str = Field(max_length=32)
    requested_at: datetime = timestamp()
    requested_from: str | None = Field(default=None, max_length=64)
    consent_version: str = Field(max_length=32)
    confirmed_at: datetime | None = timestamp(nullable=True)
    confirmed_from: str | None = Field(default=None, max_length=64)
    unsubscribed_at: datetime | None = timestamp(nullable=True)

    newsletter_links: list["SubscriberNewsletter"] = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "cascade": "all, delete-orphan"}
    )
    ticker_links: list["SubscriberTicker"] = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "cascade": "all, delete-orphan"}
    )
    author_links: list["SubscriberAuthor"] = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "cascade": "all, delete-orphan"}
    )


class SubscriberNewsletter(SQLModel, table=True):
    __tablename__ = "subscriber_newsletter"
    __table_args__ = (Index("ix_subscriber_newsletter_newsletter_id", "newsletter_id", "subscriber_id"),)

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True, ondelete="CASCADE")
    newsletter_id: int = Field(foreign_key="newsletter.id", primary_key=True, ondelete="RESTRICT")

    newsletter: Newsletter = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class SubscriberTicker(SQLModel, table=True):
    __tablename__ = "subscriber_ticker"

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True, ondelete="CASCADE")
    ticker_id: int = Field(foreign_key="ticker.id", primary_key=True, ondelete="CASCADE")

    ticker: Ticker = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class SubscriberAuthor(SQLModel, table=True):
    __tablename__ = "subscriber_author"

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True, ondelete="CASCADE")
    author_id: int = Field(foreign_key="author.id", primary_key=True, ondelete="CASCADE")

    author: Author = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class SubscriberEvent(SQLModel, table=True):
    """Append-only history (requested, confirmed, preferences, unsubscribed) for a data-protection
    officer: when, from which client address, under which consent text."""

    __tablename__ = "subscriber_event"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=32)
    occurred_at: datetime = timestamp()
    client_address: str | None = Field(default=None, max_length=64)
    consent_version: str | None = Field(default=None, max_length=32)


class ConfirmationToken(SQLModel, table=True):
    __tablename__ = "confirmation_token"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", ondelete="CASCADE", index=True)
    # The token is an HMAC of the seed under the settings secret, minted when its mail is
    # sent; its SHA-256 finds the row. Neither confirms anyone without the secret.
    token_hash: str = Field(max_length=64, unique=True)
    seed: str = Field(max_length=64)
    # The request the mail shows, applied as is on confirm: a later request for the same
    # address, from anyone, cannot change what this link confirms (issue 10, item 3).
    newsletter_ids: list[int] = Field(sa_type=JSON)
    ticker_ids: list[int] = Field(sa_type=JSON)
    author_ids: list[int] = Field(sa_type=JSON)
    requested_from: str | None = Field(default=None, max_length=64)
    consent_version: str = Field(max_length=32)
    created_at: datetime = timestamp()
    expires_at: datetime = timestamp()
    used_at: datetime | None = timestamp(nullable=True)
