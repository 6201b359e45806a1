from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.fields import RequestBody, StrictInteger, line, multiline, omittable

MAX_COMMENT_CHARS = 5000
CommentStatus = Literal["pending", "approved", "rejected", "spam", "deleted"]
ModerationStatus = Literal["approved", "rejected", "spam"]
CommentBody = Annotated[
    multiline(MAX_COMMENT_CHARS),  # type: ignore[misc]
    StringConstraints(min_length=1),
    Field(description="Markdown, up to 5,000 characters; no raw HTML, no images."),
]


class CommentCreate(RequestBody):
    body_markdown: CommentBody  # type: ignore[valid-type]
    parent_id: StrictInteger | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Reply to this top-level comment (one level of replies)."
    )


class CommentUpdate(RequestBody):
    """A reader edits their own comment's text (within the edit window); a moderator
    (`comments:moderate`) sets its status."""

    body_markdown: CommentBody = omittable()  # type: ignore[valid-type]
    status: ModerationStatus = omittable()


class ReportCreate(RequestBody):
    reason: line(500, min_length=1)  # type: ignore[valid-type]


class CommentAuthor(BaseModel):
    display_name: str | None = Field(description="Null for a deleted comment.")
    is_article_author: bool


class CommentItem(BaseModel):
    id: int
    body_html: str | None = Field(description="Sanitized HTML; null for a deleted comment.")
    author: CommentAuthor
    created_at: datetime
    edited_at: datetime | None
    reply_count: int = Field(description="Approved replies (top-level comments only).")
    status: CommentStatus = Field(
        description="`approved` for everyone; `pending` only in its author's own view; `deleted` "
        "for a removed comment that still has replies."
    )
    parent_id: int | None


class ModerationArticle(BaseModel):
    id: int
    slug: str
    title: str


class ModerationReader(BaseModel):
    id: int
    display_name: str | None
    status: str
    approved_comments: int


class ModerationItem(BaseModel):
    id: int
    status: CommentStatus
    held_for: str | None = Field(description="What the spam check held it for: `links`, `repeated_text`, `new_account_burst`.")
    open_reports: int
    body_markdown: str | None
    body_html: str | None
    parent_id: int | None
    article: ModerationArticle
    reader: ModerationReader
    created_at: datetime
    edited_at: datetime | None


class ReportAccepted(BaseModel):
    status: Literal["received"] = "received"
