"""Appending to the changes log, in the transaction of the write it reports.

Order: every appender first locks the one row of `change_log_head` (`SELECT … FOR UPDATE`
on PostgreSQL) and holds it to its commit; only then does it read the log's account of
its articles, take the next `seq`s and insert. A second appender waits at the lock until
the first has committed (or rolled back), so `seq` order is commit order: once a reader
sees a change, every change with a lower `seq` is committed and visible to it too, and
none can appear behind a cursor already handed out. On SQLite the lock is a no-op: a
write transaction begins with `BEGIN IMMEDIATE` (`app.db`), so writers are serialised
whole, and the same holds. Writers lock content keys before the head and nothing after
it, and the head's other holders (the materialiser, the prune) lock nothing else that
writers hold: no deadlock.

Runs on a synchronous connection: it is called from the commit hook
(`app.caching.changes`), inside the session's sync layer.

On PostgreSQL an appender also sends `NOTIFY tickerfeed_changes, '<last seq>'` in its
transaction (or '' when it only scheduled an article): PostgreSQL delivers it on commit and never for a rollback, so every API
process listening (`app.changes.notify`) learns that the log moved, from any writer,
the CLI's included.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from sqlalchemy import Connection, delete, exists, func, insert, or_, select, update
from sqlmodel import col

from app.changes.notify import CHANGES_CHANNEL
from app.changes.transitions import NOT_LOGGED, Current, Logged, Transition, next_transition
from app.models.article import Article, ArticleTag, ArticleTicker
from app.models.change import ArticleChange, ArticleChangeTicker, ArticleMirrorState, ChangeLogHead
from app.sql import json_array_agg, json_list

HEAD_ID = 1
# Due articles logged per statement: their ids are bound one by one (PostgreSQL takes at most
# 32,767 parameters), and the first poll after upgrading a large database logs them all.
DUE_BATCH = 5_000
head = ChangeLogHead.__table__  # type: ignore[attr-defined]
mirror_state = ArticleMirrorState.__table__  # type: ignore[attr-defined]
change = ArticleChange.__table__  # type: ignore[attr-defined]
change_ticker = ArticleChangeTicker.__table__  # type: ignore[attr-defined]


def lock_head(connection: Connection) -> int:
    """Takes the appenders' lock, held to commit; the last `seq` handed out."""
    statement = select(head.c.last_seq).where(head.c.id == HEAD_ID).with_for_update()
    return connection.execute(statement).scalar_one()


def _logged(connection: Connection, article_ids: Iterable[int]) -> dict[int, Logged]:
    rows = connection.execute(select(mirror_state).where(mirror_state.c.article_id.in_(sorted(article_ids))))
    return {
        row.article_id: Logged(visible=row.visible, due_at=row.due_at, ticker_ids=frozenset(json_list(row.ticker_ids)))
        for row in rows
    }


def _current(connection: Connection, article_ids: Iterable[int]) -> dict[int, tuple[str, Current]]:
    """Each article's slug and state, as this transaction sees it."""
    tickers = (
        select(json_array_agg(ArticleTicker.ticker_id))
        .where(col(ArticleTicker.article_id) == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    statement = select(
        col(Article.id), col(Article.slug), col(Article.status), col(Article.deleted_at),
        col(Article.published_at), tickers.label("tickers"),
    ).where(col(Article.id).in_(sorted(article_ids)))
    return {
        row.id: (
            row.slug,
            Current(
                status=row.status, deleted=row.deleted_at is not None, published_at=row.published_at,
                ticker_ids=frozenset(json_list(row.tickers)),
            ),
        )
        for row in connection.execute(statement)
    }


def _transitions(
    connection: Connection, article_ids: list[int], *, now: datetime, edited: bool
) -> list[tuple[int, str, Transition]]:
    logged = _logged(connection, article_ids)
    current = _current(connection, article_ids)
    return [
        (article_id, current[article_id][0], next_transition(
            logged.get(article_id, NOT_LOGGED), current[article_id][1], now=now, edited=edited
        ))
        for article_id in article_ids
        if article_id in current
    ]


def _write(
    connection: Connection, transitions: list[tuple[int, str, Transition]], *, last_seq: int,
    occurred_at: Mapping[int, datetime],
) -> "Appended":
    """Inserts the changes, numbered from `last_seq` on, and the log's new account of each
    article (no row for one neither visible nor scheduled)."""
    changes, tickers = [], []
    for article_id, slug, transition in transitions:
        if transition.type is None:
            continue
        last_seq += 1
        changes.append({
            "seq": last_seq, "type": transition.type, "occurred_at": occurred_at[article_id],
            "article_id": article_id, "slug": slug,
        })
        tickers.extend({"seq": last_seq, "ticker_id": ticker_id} for ticker_id in sorted(transition.tickers))
    ids = [article_id for article_id, _, _ in transitions]
    connection.execute(delete(mirror_state).where(mirror_state.c.article_id.in_(ids)))
    states = [
        {"article_id": article_id, "visible": t.logged.visible, "due_at": t.logged.due_at,
         "ticker_ids": sorted(t.logged.ticker_ids)}
        for article_id, _, t in transitions
        if t.logged != NOT_LOGGED
    ]
    for table, rows in ((mirror_state, states), (change, changes), (change_ticker, tickers)):
        if rows:
            connection.execute(insert(table), rows)
    appended = Appended(
        last_seq=last_seq if changes else None,
        scheduled=any(t.logged.due_at is not None for _, _, t in transitions),
    )
    if changes:
        connection.execute(update(head).where(head.c.id == HEAD_ID).values(last_seq=last_seq))
    if appended and connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_notify(CHANGES_CHANNEL, appended.payload)))
    return appended


@dataclass(frozen=True)
class Appended:
    """What an appender did: the log's new last `seq` (None: it logged nothing), and
    whether it left an article scheduled, whose due time the stream's readers wait for."""

    last_seq: int | None = None
    scheduled: bool = False

    def __bool__(self) -> bool:
        """Whether the stream's readers should hear of it."""
        return self.last_seq is not None or self.scheduled

    @property
    def payload(self) -> str:
        """The notification: the new last `seq`, or '' (read the log and its schedule again)."""
        return "" if self.last_seq is None else str(self.last_seq)


@dataclass(frozen=True)
class Edits:
    """What a transaction changed that articles show: the articles themselves, and the
    authors, tickers and tags whose rename changes every page that shows them."""

    article_ids: frozenset[int] = frozenset()
    author_ids: frozenset[int] = frozenset()
    ticker_ids: frozenset[int] = frozenset()
    tag_ids: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.article_ids or self.author_ids or self.ticker_ids or self.tag_ids)


def append_changes(connection: Connection, edits: Edits, *, now: datetime) -> Appended:
    """Logs what this transaction's `edits` changed for readers. Articles that were not and
    are not visible (drafts) log nothing."""
    if not edits:
        return Appended()
    last_seq = lock_head(connection)
    # Under the lock: an article logged visible meanwhile is found here.
    article_ids = set(edits.article_ids) | visible_articles_showing(connection, edits)
    if not article_ids:
        return Appended()
    transitions = _transitions(connection, sorted(article_ids), now=now, edited=True)
    return _write(connection, transitions, last_seq=last_seq, occurred_at=dict.fromkeys(article_ids, now))


def materialise_due(connection: Connection, *, now: datetime) -> Appended:
    """Logs each scheduled article that has come due as `article.published` at its time,
    in the order they came due. Looked up after taking the lock, so two readers
    at once log each article once: the second finds it logged."""
    last_seq = lock_head(connection)
    due_at = mirror_state.c.due_at
    statement = (
        select(mirror_state.c.article_id, due_at).where(due_at <= now)
        .order_by(due_at, mirror_state.c.article_id).limit(DUE_BATCH)
    )
    appended, logged = Appended(), set[int]()
    # A batch at a time: a logged article is no longer due, so the next look finds the next.
    while (due := {row.article_id: row.due_at for row in connection.execute(statement)}) and not logged & due.keys():
        transitions = _transitions(connection, list(due), now=now, edited=False)
        step = _write(connection, transitions, last_seq=last_seq, occurred_at=due)
        last_seq = step.last_seq if step.last_seq is not None else last_seq
        appended = Appended(
            last_seq=step.last_seq if step.last_seq is not None else appended.last_seq,
            scheduled=appended.scheduled or step.scheduled,
        )
        logged |= due.keys()
    return appended


def visible_articles_showing(connection: Connection, edits: Edits) -> set[int]:
    """The articles visible by the log's account whose page shows one of the edited
    authors, tickers or tags: a rename changes their detail, an `article.updated` each."""
    if not (edits.author_ids or edits.ticker_ids or edits.tag_ids):
        return set()
    article_id = mirror_state.c.article_id
    shows = or_(
        exists().where(col(Article.id) == article_id, col(Article.author_id).in_(sorted(edits.author_ids))),
        exists().where(
            col(ArticleTicker.article_id) == article_id, col(ArticleTicker.ticker_id).in_(sorted(edits.ticker_ids))
        ),
        exists().where(col(ArticleTag.article_id) == article_id, col(ArticleTag.tag_id).in_(sorted(edits.tag_ids))),
    )
    return set(connection.execute(select(article_id).where(mirror_state.c.visible, shows)).scalars())
