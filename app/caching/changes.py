"""Which content keys a transaction changes, noted for every session and bumped before it commits.

Noting happens in one place, a `before_flush` listener on every ORM session, so no
service can forget it: the first time a flush touches an article, the article's
footprint (`keys.Footprint`) is read as it stands before the change; a touched author,
ticker, alias, tag or newsletter changes `all`. Before the transaction commits, the
footprints are read again, the keys that moved are bumped in `content_key`, the changes
readers can see are appended to the changes log (`app.changes.log`), and the versions the
keys reached are what the shared cache announces (`ContentCache.commit`).
A session that commits without that step (the CLI's, the tests') is bumped by the
`before_commit` listener instead. Writes through Core statements bypass the listeners;
services use the ORM.

Keys are bumped in name order, at the end of the transaction: writers never hold a key
row while waiting for another row, so they cannot deadlock on keys.
"""

from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from app.caching.keys import ALL, Footprint, changed_keys, comments_key
from app.changes.log import Edits, append_changes
from app.db import utcnow
from app.models.article import Article, ArticleTag, ArticleTicker
from app.models.author import Author
from app.models.comment import Comment
from app.models.reader import Reader
from app.models.content_key import ContentKey
from app.models.newsletter import Newsletter
from app.models.tag import Tag
from app.models.ticker import Ticker, TickerAlias
from app.sql import json_array_agg, json_list

# What every page can show besides articles. API keys and subscribers are not content:
# creating one must not invalidate anything.
SHARED_CONTENT = (Author, Newsletter, Tag, Ticker, TickerAlias)
NOTED = "content_noted"
# What a transaction appended to the changes log (`app.changes.log.Appended`): told to the
# stream once it has committed (`ContentCache.commit`).
LOGGED = "changes_logged"

content_key = ContentKey.__table__  # type: ignore[attr-defined]


@dataclass
class Noted:
    """A transaction's content changes so far."""

    before: dict[int, Footprint | None] = field(default_factory=dict)
    new_articles: list[Article] = field(default_factory=list)
    everything: bool = False
    # Existing authors, tickers and tags changed: what the pages showing them show.
    shown: dict[type, set[int]] = field(default_factory=dict)
    # Keys a write names directly: the comment pages it changed.
    keys: set[str] = field(default_factory=set)

    def edits(self, article_ids: set[int]) -> Edits:
        return Edits(
            article_ids=frozenset(article_ids),
            author_ids=frozenset(self.shown.get(Author, ())),
            ticker_ids=frozenset(self.shown.get(Ticker, ())),
            tag_ids=frozenset(self.shown.get(Tag, ())),
        )


def _footprint_statement() -> Any:
    tickers = (
        select(json_array_agg(ArticleTicker.ticker_id))
        .where(col(ArticleTicker.article_id) == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    tags = (
        select(json_array_agg(ArticleTag.tag_id))
        .where(col(ArticleTag.article_id) == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    return select(
        col(Article.id), col(Article.status), col(Article.deleted_at), col(Article.published_at),
        col(Article.author_id), tickers.label("tickers"), tags.label("tags"),
    )


FOOTPRINTS = _footprint_statement()


def read_footprints(connection: Connection, article_ids: set[int]) -> dict[int, Footprint]:
    if not article_ids:
        return {}
    rows = connection.execute(FOOTPRINTS.where(col(Article.id).in_(sorted(article_ids))))
    return {
        row.id: Footprint(
            article_id=row.id,
            listed=row.status == "published" and row.deleted_at is None,
            published_at=row.published_at,
            author_id=row.author_id,
            ticker_ids=frozenset(json_list(row.tickers)),
            tag_ids=frozenset(json_list(row.tags)),
        )
        for row in rows
    }


def _touched_article_id(obj: Any) -> int | None:
    if isinstance(obj, Article):
        return obj.id
    if isinstance(obj, ArticleTicker | ArticleTag):
        return obj.article_id
    return None


@event.listens_for(Session, "before_flush")
def note_content_changes(session: Session, _flush_context: Any, _instances: Any) -> None:
    noted: Noted = session.info.setdefault(NOTED, Noted())
    # `dirty` also lists objects whose attributes were set to the value they had.
    changed = [
        obj for obj in chain(session.new, session.deleted, session.dirty)
        if obj not in session.dirty or session.is_modified(obj)
    ]
    unseen: set[int] = set()
    for obj in changed:
        if isinstance(obj, SHARED_CONTENT):
            noted.everything = True
            if isinstance(obj, Author | Ticker | Tag) and obj.id is not None:
                noted.shown.setdefault(type(obj), set()).add(obj.id)
        elif isinstance(obj, Comment):
            noted.keys.add(comments_key(obj.article_id))
        elif isinstance(obj, Reader) and obj in session.dirty:
            noted.keys |= _threads_showing(session.connection(), obj)
        elif isinstance(obj, Article) and obj.id is None:
            noted.new_articles.append(obj)
        elif (article_id := _touched_article_id(obj)) is not None and article_id not in noted.before:
            unseen.add(article_id)
    if unseen:
        found = read_footprints(session.connection(), unseen)
        noted.before.update({article_id: found.get(article_id) for article_id in unseen})


def _threads_showing(connection: Connection, reader: Reader) -> set[str]:
    """A reader's name shows on their comments: a rename or an erasure changes those threads."""
    if not inspect(reader).attrs.display_name.history.has_changes():
        return set()
    statement = select(Comment.article_id).where(col(Comment.reader_id) == reader.id).distinct()
    return {comments_key(article_id) for article_id in connection.execute(statement).scalars()}


def record_noted_changes(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Bumps the keys this transaction changed and logs what it changed for mirrors
    (`app.changes.log`); the keys' new versions, by name. `now` is the request's clock,
    which decides whether an article is visible yet."""
    noted: Noted | None = session.info.pop(NOTED, None)
    if noted is None:
        return {}
    keys = ({ALL} if noted.everything else set()) | noted.keys
    article_ids = set(noted.before) | {article.id for article in noted.new_articles if article.id is not None}
    connection = session.connection()
    after = read_footprints(connection, article_ids)
    for article_id in article_ids:
        keys |= changed_keys(article_id, noted.before.get(article_id), after.get(article_id))
    versions = bump(connection, keys, now=utcnow())
    # After the keys: every writer locks keys, then the log's head (`app.changes.log`).
    appended = append_changes(connection, noted.edits(article_ids), now=now or utcnow())
    if appended:
        session.info[LOGGED] = appended
    return versions


def bump(connection: Connection, keys: set[str], *, now: datetime) -> dict[str, int]:
    if not keys:
        return {}
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(content_key).values([{"name": name, "version": 1, "changed_at": now} for name in sorted(keys)])
    statement = statement.on_conflict_do_update(
        index_elements=[content_key.c.name],
        set_={"version": content_key.c.version + 1, "changed_at": statement.excluded.changed_at},
    ).returning(content_key.c.name, content_key.c.version)
    return {name: version for name, version in connection.execute(statement)}


@event.listens_for(Session, "before_commit")
def bump_before_commit(session: Session) -> None:
    if NOTED in session.info:
        session.flush()
        record_noted_changes(session)


@event.listens_for(Session, "after_soft_rollback")
def forget_noted_changes(session: Session, previous_transaction: Any) -> None:
    """What a rolled-back transaction touched changed nothing (a savepoint's rollback
    leaves the rest of its transaction noted)."""
    if not previous_transaction.nested:
        session.info.pop(NOTED, None)
