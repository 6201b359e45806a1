from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import Timestamped, timestamp


class Newsletter(Timestamped, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)
    time_zone: str = Field(default="UTC", max_length=64)
    send_hour: int = Field(default=7)


class NewsletterEdition(SQLModel, table=True):
    """One row per edition the scheduler queued: the unique key is what makes an edition
    go out once a day however many workers run (the database decides, not a process)."""

    __tablename__ = "newsletter_edition"
    __table_args__ = (UniqueConstraint("newsletter_id", "edition_date"),)

    id: int | None = Field(default=None, primary_key=True)
    newsletter_id: int = Field(foreign_key="newsletter.id", ondelete="CASCADE")
    edition_date: date
    queued_at: datetime = timestamp()
    # Messages queued (0 for an edition without articles, which is decided and not sent).
    recipients: int = 0
    articles: int = 0
