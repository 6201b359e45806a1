"""The comment lists, read on the read connection: an article's thread, a comment's
replies, and the moderation queues."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.models import Article, Comment, Reader

ITEM_COLUMNS = (
    col(Comment.id), col(Comment.parent_id), col(Comment.body_html), col(Comment.status),
    col(Comment.created_at), col(Comment.edited_at), col(Comment.reply_count),
    col(Comment.is_article_author), col(Reader.display_name),
)


async def visible_article_id(connection: AsyncConnection, slug: str, *, now: datetime) -> int | None:
    statement = select(col(Article.id)).where(
        col(Article.slug) == slug, col(Article.status) == "published", col(Article.deleted_at).is_(None),
        col(Article.published_at) <= now,
    )
    return (await connection.execute(statement)).scalar()


async def reply_target(connection: AsyncConnection, comment_id: int) -> Any:
    """The article (`article_id`, `slug`) of a top-level comment whose place in the thread
    shows; None for a reply or a comment nobody sees."""
    statement = (
        select(col(Comment.article_id), col(Article.slug))
        .join(Article, col(Article.id) == col(Comment.article_id))
        .where(
            col(Comment.id) == comment_id, col(Comment.parent_id).is_(None),
            col(Comment.status).in_(("approved", "deleted")),
        )
    )
    return (await connection.execute(statement)).first()


def _shown(viewer_id: int | None) -> Any:
    """Approved comments; deleted ones while they have approved replies (their place in
    the thread); the viewer's own pending ones."""
    own = and_(col(Comment.reader_id) == viewer_id, col(Comment.status) == "pending") if viewer_id else false()
    return or_(
        col(Comment.status) == "approved",
        and_(col(Comment.status) == "deleted", col(Comment.reply_count) > 0),
        own,
    )


async def read_thread(
    connection: AsyncConnection,
    *,
    article_id: int,
    parent_id: int | None,
    viewer_id: int | None,
    newest_first: bool,
    after: Sequence[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Top-level comments of an article (or the replies to `parent_id`), keyset on
    (created_at, id)."""
    parent = col(Comment.parent_id).is_(None) if parent_id is None else col(Comment.parent_id) == parent_id
    key = tuple_(col(Comment.created_at), col(Comment.id))
    statement = (
        select(*ITEM_COLUMNS)
        .join(Reader, col(Reader.id) == col(Comment.reader_id))
        .where(col(Comment.article_id) == article_id, parent, _shown(viewer_id))
    )
    if after is not None:
        statement = statement.where(key < tuple_(*after) if newest_first else key > tuple_(*after))
    order = [col(Comment.created_at), col(Comment.id)]
    statement = statement.order_by(*[part.desc() if newest_first else part.asc() for part in order]).limit(limit)
    return [dict(row) for row in (await connection.execute(statement)).mappings()]


def item(row: dict[str, Any]) -> dict[str, Any]:
    """The public shape: a deleted comment keeps its place and says nothing."""
    deleted = row["status"] == "deleted"
    return {
        "id": row["id"],
        "parent_id": row["parent_id"],
        "body_html": None if deleted else row["body_html"],
        "author": {
            "display_name": None if deleted else row["display_name"],
            "is_article_author": False if deleted else row["is_article_author"],
        },
        "created_at": row["created_at"],
        "edited_at": None if deleted else row["edited_at"],
        "reply_count": row["reply_count"],
        "status": row["status"],
    }


async def read_queue(
    connection: AsyncConnection, *, queue: str, after: Sequence[Any] | None, limit: int
) -> list[dict[str, Any]]:
    """A moderation queue, oldest first (what waited longest comes first), keyset on id."""
    if queue == "reported":
        which = and_(col(Comment.open_reports) > 0, col(Comment.status).in_(("approved", "pending")))
    else:
        which = col(Comment.status) == queue
    statement = (
        select(
            col(Comment.id), col(Comment.status), col(Comment.held_for), col(Comment.open_reports),
            col(Comment.body_markdown), col(Comment.body_html), col(Comment.parent_id),
            col(Comment.created_at), col(Comment.edited_at), col(Article.id).label("article_id"),
            col(Article.slug), col(Article.title), col(Reader.id).label("reader_id"),
            col(Reader.display_name), col(Reader.status).label("reader_status"), col(Reader.approved_count),
        )
        .join(Article, col(Article.id) == col(Comment.article_id))
        .join(Reader, col(Reader.id) == col(Comment.reader_id))
        .where(which)
    )
    if after is not None:
        statement = statement.where(col(Comment.id) > after[0])
    statement = statement.order_by(col(Comment.id)).limit(limit)
    return [dict(row) for row in (await connection.execute(statement)).mappings()]


def moderation_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "status": row["status"], "held_for": row["held_for"], "open_reports": row["open_reports"],
        "body_markdown": row["body_markdown"], "body_html": row["body_html"] or None, "parent_id": row["parent_id"],
        "article": {"id": row["article_id"], "slug": row["slug"], "title": row["title"]},
        "reader": {
            "id": row["reader_id"], "display_name": row["display_name"], "status": row["reader_status"],
            "approved_comments": row["approved_count"],
        },
        "created_at": row["created_at"], "edited_at": row["edited_at"],
    }


def comment_key(row: dict[str, Any]) -> list[datetime | int]:
    return [row["created_at"], row["id"]]
