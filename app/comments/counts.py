"""Counts that cards and threads show, kept exact under concurrent writers.

Every write that can move a count takes the article's row lock first (`lock_article`:
`SELECT … FOR UPDATE` on PostgreSQL; SQLite has one writer at a time anyway), then
recounts from the comments rather than adding and subtracting. Under READ COMMITTED each
later statement sees every transaction that held the lock before, so the count is exact
whatever order writers commit in, and a count that ever drifted heals on the next write.
The counts are set through the ORM, so the stored card is rebuilt and the article's
content keys bumped in the same transaction (`app.articles.documents`, `app.caching.changes`).
"""

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Article, Comment, Reader

APPROVED = "approved"


async def lock_article(session: AsyncSession, article_id: int) -> Article:
    statement = (
        select(Article)
        .where(col(Article.id) == article_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(statement)).one()


async def _approved(session: AsyncSession, column: object, value: int) -> int:
    statement = select(func.count()).select_from(Comment).where(column == value, Comment.status == APPROVED)
    return (await session.exec(statement)).one()


async def recount(
    session: AsyncSession,
    article: Article,
    *,
    parent_ids: Iterable[int | None] = (),
    reader_ids: Iterable[int] = (),
) -> None:
    """Recounts an article locked by `lock_article`, the replies of `parent_ids` and the
    approved comments of `reader_ids` (what makes a reader trusted)."""
    assert article.id is not None
    count = await _approved(session, col(Comment.article_id), article.id)
    if article.comment_count != count:
        article.comment_count = count
    for parent_id in {parent_id for parent_id in parent_ids if parent_id is not None}:
        parent = await session.get_one(Comment, parent_id)
        replies = await _approved(session, col(Comment.parent_id), parent_id)
        if parent.reply_count != replies:
            parent.reply_count = replies
    for reader_id in set(reader_ids):
        reader = await session.get_one(Reader, reader_id)
        approved = await _approved(session, col(Comment.reader_id), reader_id)
        if reader.approved_count != approved:
            reader.approved_count = approved
    await session.flush()
