"""Readers: people who sign in by mailed link to comment. No password is ever stored."""

from datetime import datetime

from sqlmodel import Field

from app.models.base import Timestamped, timestamp


class Reader(Timestamped, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Both are emptied when the reader is erased; the address may then sign in as a new reader.
    email: str | None = Field(default=None, max_length=320)
    email_key: str | None = Field(default=None, max_length=320, unique=True)
    display_name: str | None = Field(default=None, max_length=60)
    status: str = Field(default="active", max_length=16)  # active | banned | erased
    # Approved comments so far: past `comment_trust_threshold` the reader posts straight away.
    approved_count: int = 0
    # The same person's newsletter subscription, when the addresses match (never created here).
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", ondelete="SET NULL")
    # Set by editors: this reader writes as that author, and is marked so under their articles.
    author_id: int | None = Field(default=None, foreign_key="author.id", ondelete="SET NULL")
    banned_at: datetime | None = timestamp(nullable=True)
    erased_at: datetime | None = timestamp(nullable=True)


class ReaderSignIn(Timestamped, table=True):
    """A mailed sign-in link: its token is an HMAC of `seed` minted when the mail is sent;
    its SHA-256 finds the row. Made for every address asked, known or not (no enumeration)."""

    __tablename__ = "reader_sign_in"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    seed: str = Field(max_length=64)
    requested_from: str | None = Field(default=None, max_length=64)
    expires_at: datetime = timestamp()
    used_at: datetime | None = timestamp(nullable=True)


class ReaderSession(Timestamped, table=True):
    """An opaque bearer token, stored only as its SHA-256; deleting the row revokes it."""

    __tablename__ = "reader_session"

    id: int | None = Field(default=None, primary_key=True)
    reader_id: int = Field(foreign_key="reader.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = timestamp()
