"""The content version: bumped by every content write, read by every cacheable GET.

Bumping happens in one place, a `before_flush` listener on every ORM session, so no
service can forget it and the bump commits or rolls back with the write itself. It runs
before the flush writes any row, so every writer takes the row lock on `content_version`
first: writers queue on it instead of deadlocking on each other's article rows.
Writes through Core statements (`session.execute(update(...))`) bypass the listener;
services use the ORM.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import event, insert, select, text, update
from sqlalchemy.orm import Session
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CONTENT_CHANGED, utcnow
from app.models.article import VISIBLE_ROWS, Article, ArticleTag, ArticleTicker
from app.models.author import Author
from app.models.content_version import SINGLE_ROW_ID, ContentVersion
from app.models.newsletter import Newsletter
from app.models.tag import Tag
from app.models.ticker import Ticker, TickerAlias

# Everything a public representation is built from. API keys are not content: creating
# one must not invalidate every cached page.
CONTENT_MODELS = (Article, ArticleTag, ArticleTicker, Author, Newsletter, Tag, Ticker, TickerAlias)

content_version = ContentVersion.__table__  # type: ignore[attr-defined]
# Bump both when the code changes how stored data is rendered: old ETags stop matching,
# the shared cache stops serving old renderings, and Last-Modified is never older than the
# rendering, so a client that revalidates by date alone gets the new one too.
REPRESENTATION_REVISION = 1
REPRESENTATION_REVISED_AT = datetime(2026, 11, 29, tzinfo=UTC)


@dataclass(frozen=True)
class ContentState:
    """What every cacheable representation depends on besides the URL."""

    version: int
    changed_at: datetime | None
    # Scheduled articles appear when their time passes, with no write: the newest visible
    # `published_at` moves at that moment (it is newer than every article already shown).
    newest_visible: datetime | None
    # When the next scheduled article becomes visible: the state is stale from then on.
    next_due: datetime | None = None

    @property
    def last_modified(self) -> datetime:
        moments = [moment for moment in (self.changed_at, self.newest_visible) if moment]
        return max([*moments, REPRESENTATION_REVISED_AT])

    @property
    def token(self) -> str:
        """Equal tokens, equal content. The shared cache's Lua script builds the same string.
        `changed_at` tells a restored database's counter from the one it once had."""
        changed = epoch_micros(self.changed_at) if self.changed_at else "-"
        newest = epoch_micros(self.newest_visible) if self.newest_visible else "-"
        return f"{self.version}:{changed}:{newest}"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (float timestamps can be off by one)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_epoch_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def touches_content(session: Session) -> bool:
    if any(isinstance(obj, CONTENT_MODELS) for obj in chain(session.new, session.deleted)):
        return True
    # `dirty` also lists objects whose attributes were set to the value they had.
    return any(
        isinstance(obj, CONTENT_MODELS) and session.is_modified(obj) for obj in session.dirty
    )


@event.listens_for(Session, "before_flush")
def bump_content_version(session: Session, _flush_context: Any, _instances: Any) -> None:
    if not touches_content(session):
        return
    connection = session.connection()
    changed_at = utcnow()
    bumped = connection.execute(
        update(content_version)
        .where(content_version.c.id == SINGLE_ROW_ID)
        .values(version=content_version.c.version + 1, changed_at=changed_at)
        .returning(content_version.c.version)
    ).scalar()
    if bumped is None:
        # The migration seeds the row; recreate it if someone emptied the table.
        connection.execute(
            insert(content_version).values(id=SINGLE_ROW_ID, version=1, changed_at=changed_at)
        )
    # The version this transaction will commit, for the shared cache to announce.
    session.info[CONTENT_CHANGED] = bumped or 1


async def read_content_state(session: AsyncSession, *, now: datetime) -> ContentState:
    """One round trip: the counter row and the entries either side of `now` in the
    visible-feed index (the newest visible article and the next scheduled one).

    `VISIBLE_ROWS` is written out literally so both backends can use the partial
    `ix_article_feed` index.
    """
    # ORDER BY … LIMIT 1 rather than max(): both backends then read one entry from the
    # end of the index instead of aggregating over every visible row.
    newest = (
        select(Article.published_at)
        .where(text(VISIBLE_ROWS), Article.published_at <= now)  # type: ignore[operator]
        .order_by(col(Article.published_at).desc())
        .limit(1)
        .scalar_subquery()
    )
    next_due = (
        select(Article.published_at)
        .where(text(VISIBLE_ROWS), Article.published_at > now)  # type: ignore[operator]
        .order_by(col(Article.published_at).asc())
        .limit(1)
        .scalar_subquery()
    )
    by_id = content_version.c.id == SINGLE_ROW_ID
    statement = select(
        select(content_version.c.version).where(by_id).scalar_subquery(),
        select(content_version.c.changed_at).where(by_id).scalar_subquery(),
        newest,
        next_due,
    )
    version, changed_at, newest_visible, due = (await session.exec(statement)).one()
    return ContentState(
        version=version or 0, changed_at=changed_at, newest_visible=newest_visible, next_due=due
    )
