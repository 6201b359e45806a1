"""Comments under articles, one level of replies, and readers' reports."""

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field

from app.models.base import Timestamped, timestamp


class Comment(Timestamped, table=True):
    __table_args__ = (
        # An article's thread (or a comment's replies) in order: keyset on (created_at, id).
        Index("ix_comment_thread", "article_id", "parent_id", "created_at", "id"),
        Index("ix_comment_status_id", "status", "id"),
        Index("ix_comment_reader_id_created_at", "reader_id", "created_at"),
        Index("ix_comment_fingerprint_created_at", "fingerprint", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="article.id", ondelete="CASCADE")
    reader_id: int = Field(foreign_key="reader.id", ondelete="CASCADE")
    parent_id: int | None = Field(default=None, foreign_key="comment.id", ondelete="CASCADE")
    # Emptied when the comment is deleted or its reader erased.
    body_markdown: str | None = Field(default=None, sa_type=Text)
    body_html: str = Field(default="", sa_type=Text)
    # pending | approved | rejected | spam | deleted
    status: str = Field(max_length=16)
    # Why the spam check held it, for moderators (`app.comments.spam`).
    held_for: str | None = Field(default=None, max_length=64)
    # SHA-256 of the normalised text: the same text posted again is found by index.
    fingerprint: str | None = Field(default=None, max_length=64)
    is_article_author: bool = False
    reply_count: int = 0  # approved replies
    open_reports: int = 0  # reports since a moderator last decided
    edited_at: datetime | None = timestamp(nullable=True)
    deleted_at: datetime | None = timestamp(nullable=True)


class CommentReport(Timestamped, table=True):
    __tablename__ = "comment_report"
    __table_args__ = (UniqueConstraint("comment_id", "reader_id"),)

    id: int | None = Field(default=None, primary_key=True)
    comment_id: int = Field(foreign_key="comment.id", ondelete="CASCADE")
    reader_id: int = Field(foreign_key="reader.id", ondelete="CASCADE", index=True)
    reason: str = Field(max_length=500)
