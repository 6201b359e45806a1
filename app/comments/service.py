"""Comments: post, edit, delete, report, moderate. Every change that can move a count
locks the article first and recounts (`app.comments.counts`)."""

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.rendering import COMMENT, render_body
from app.comments import spam
from app.comments.counts import APPROVED, lock_article, recount
from app.models import Article, Comment, CommentReport, Reader
from app.problems import Conflict, Forbidden, InvalidFields, NotFound
from app.settings import Settings

def render(markdown: str, settings: Settings) -> str:
    """The articles' pipeline with the comment profile: no images, links `nofollow ugc`,
    cashtags left as text."""
    return render_body(markdown, site_url=settings.site_url, resolve=lambda _symbol: None, profile=COMMENT).html


def _is_visible(article: Article, now: datetime) -> bool:
    return (
        article.status == "published"
        and article.deleted_at is None
        and article.published_at is not None
        and article.published_at <= now
    )


async def visible_article(session: AsyncSession, slug: str, *, now: datetime) -> Article:
    article = (await session.exec(select(Article).where(Article.slug == slug))).first()
    if article is None or not _is_visible(article, now):
        raise NotFound(f"No article with slug '{slug}'.")
    return article


async def get_comment(session: AsyncSession, comment_id: int) -> Comment:
    comment = await session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("No such comment.")
    return comment


async def _parent(session: AsyncSession, article: Article, parent_id: int) -> Comment:
    parent = await session.get(Comment, parent_id)
    if parent is None or parent.article_id != article.id or parent.status != APPROVED:
        raise InvalidFields.one(["body", "parent_id"], "no approved comment with this id under this article")
    if parent.parent_id is not None:
        raise InvalidFields.one(["body", "parent_id"], "replies take one level: reply to the top-level comment")
    return parent


async def post_comment(
    session: AsyncSession,
    article: Article,
    reader: Reader,
    *,
    body_markdown: str,
    parent_id: int | None,
    settings: Settings,
    now: datetime,
) -> Comment:
    if reader.status == "banned":
        raise Forbidden("This reader is banned from commenting.")
    if not reader.display_name:
        raise Conflict("Choose a display name first: `PATCH /v1/readers/me {\"display_name\": …}`.")
    assert article.id is not None and reader.id is not None
    article = await lock_article(session, article.id)
    if not article.comments_open:
        raise Conflict("Comments on this article are closed.")
    if parent_id is not None:
        await _parent(session, article, parent_id)
    html = render(body_markdown, settings)
    verdict = await spam.verdict(session, reader=reader, markdown=body_markdown, html=html, settings=settings, now=now)
    comment = Comment(
        article_id=article.id, reader_id=reader.id, parent_id=parent_id, body_markdown=body_markdown,
        body_html=html, status=verdict.status, held_for=verdict.held_for,
        fingerprint=spam.fingerprint(body_markdown), is_article_author=reader.author_id == article.author_id,
        created_at=now, updated_at=now,
    )
    session.add(comment)
    await session.flush()
    if comment.status == APPROVED:
        await recount(session, article, parent_ids=[parent_id], reader_ids=[reader.id])
    return comment


def _own(comment: Comment, reader: Reader) -> None:
    if comment.reader_id != reader.id or comment.status == "deleted":
        raise NotFound("No such comment.")


async def edit_comment(
    session: AsyncSession, comment: Comment, reader: Reader, *, body_markdown: str, settings: Settings, now: datetime
) -> Comment:
    """The author's own edit, within `comment_edit_minutes` of posting."""
    _own(comment, reader)
    if now - comment.created_at > timedelta(minutes=settings.comment_edit_minutes):
        raise Conflict(f"A comment can be edited within {settings.comment_edit_minutes} minutes of posting.")
    article = await lock_article(session, comment.article_id)
    html = render(body_markdown, settings)
    held = spam.link_count(html) > settings.comment_max_links
    was = comment.status
    comment.body_markdown, comment.body_html = body_markdown, html
    comment.fingerprint = spam.fingerprint(body_markdown)
    comment.edited_at = comment.updated_at = now
    if held and was == APPROVED:  # an edit must not slip links past the check
        comment.status, comment.held_for = "pending", "links"
    await session.flush()
    if comment.status != was:
        await recount(session, article, parent_ids=[comment.parent_id], reader_ids=[reader.id])
    return comment


async def _remove(session: AsyncSession, comment: Comment, *, now: datetime) -> None:
    """No text left; the row stays so replies keep their place (`deleted` shows only while
    it has approved replies)."""
    comment.status, comment.body_markdown, comment.body_html = "deleted", None, ""
    comment.fingerprint = comment.held_for = None
    comment.deleted_at = comment.updated_at = now
    comment.open_reports = 0


async def delete_comment(session: AsyncSession, comment: Comment, reader: Reader, *, now: datetime) -> None:
    _own(comment, reader)
    article = await lock_article(session, comment.article_id)
    was = comment.status
    await _remove(session, comment, now=now)
    await session.flush()
    if was == APPROVED:
        await recount(session, article, parent_ids=[comment.parent_id], reader_ids=[comment.reader_id])


async def report_comment(
    session: AsyncSession, comment: Comment, reader: Reader, *, reason: str, now: datetime
) -> None:
    """One report per reader and comment counts; repeating it changes nothing."""
    if reader.status == "banned":
        raise Forbidden("This reader is banned.")
    if comment.status != APPROVED:
        raise NotFound("No such comment.")
    assert reader.id is not None and comment.id is not None
    report = CommentReport(comment_id=comment.id, reader_id=reader.id, reason=reason, created_at=now, updated_at=now)
    try:
        async with session.begin_nested():
            session.add(report)
            await session.flush()
    except IntegrityError:
        return
    await session.exec(  # type: ignore[call-overload]
        update(Comment).where(col(Comment.id) == comment.id).values(open_reports=col(Comment.open_reports) + 1)
    )


async def moderate(session: AsyncSession, comment: Comment, *, status: str, now: datetime) -> Comment:
    """A moderator's decision; it also settles the comment's open reports."""
    if comment.status == "deleted":
        raise Conflict("The comment was deleted by its author.")
    article = await lock_article(session, comment.article_id)
    await session.refresh(comment)
    comment.status, comment.open_reports, comment.updated_at = status, 0, now
    await session.flush()
    await recount(session, article, parent_ids=[comment.parent_id], reader_ids=[comment.reader_id])
    return comment


async def _comments_of(session: AsyncSession, reader_id: int, *statuses: str) -> list[Comment]:
    statement = select(Comment).where(Comment.reader_id == reader_id)
    if statuses:
        statement = statement.where(col(Comment.status).in_(statuses))
    return list((await session.exec(statement.order_by(col(Comment.article_id), col(Comment.id)))).all())


async def _change_all(session: AsyncSession, comments: list[Comment], change: object, *, now: datetime) -> None:
    """Applies `change` to each comment, article by article in id order (the order every
    writer locks articles in), recounting each article once."""
    by_article: dict[int, list[Comment]] = {}
    for comment in comments:
        by_article.setdefault(comment.article_id, []).append(comment)
    for article_id in sorted(by_article):
        article = await lock_article(session, article_id)
        for comment in by_article[article_id]:
            await change(comment)  # type: ignore[operator]
        await session.flush()
        await recount(
            session, article, parent_ids=[comment.parent_id for comment in by_article[article_id]],
            reader_ids=[comment.reader_id for comment in by_article[article_id]],
        )


async def erase_comments_of(session: AsyncSession, reader_id: int, *, now: datetime) -> None:
    async def remove(comment: Comment) -> None:
        await _remove(session, comment, now=now)

    comments = [comment for comment in await _comments_of(session, reader_id) if comment.status != "deleted"]
    await _change_all(session, comments, remove, now=now)


async def reject_pending_of(session: AsyncSession, reader_id: int, *, now: datetime) -> int:
    async def reject(comment: Comment) -> None:
        comment.status, comment.updated_at = "rejected", now

    pending = await _comments_of(session, reader_id, "pending")
    await _change_all(session, pending, reject, now=now)
    return len(pending)
