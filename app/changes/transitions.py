"""Which change a write (or the clock) makes, from what the log last told mirrors.

Deciding from the log's own account (`Logged`) rather than from the row before the write
keeps the log self-consistent: a mirror that applied every change holds an article exactly
when the log says it is visible, whatever raced (a scheduled article coming due while an
editor unpublished it, say).
"""

from dataclasses import dataclass
from datetime import datetime

PUBLISHED = "article.published"
UPDATED = "article.updated"
UNPUBLISHED = "article.unpublished"
DELETED = "article.deleted"
TYPES = (PUBLISHED, UPDATED, UNPUBLISHED, DELETED)
WITH_DETAIL = (PUBLISHED, UPDATED)


@dataclass(frozen=True)
class Logged:
    """The log's account of an article (`article_mirror_state`; none is `NOT_LOGGED`)."""

    visible: bool
    due_at: datetime | None
    ticker_ids: frozenset[int]


NOT_LOGGED = Logged(visible=False, due_at=None, ticker_ids=frozenset())


@dataclass(frozen=True)
class Current:
    """The article as the appending transaction sees it."""

    status: str
    deleted: bool
    published_at: datetime | None
    ticker_ids: frozenset[int]


@dataclass(frozen=True)
class Transition:
    type: str | None  # None: no change to log
    tickers: frozenset[int]  # the tickers the change matches
    logged: Logged  # the log's account after it; NOT_LOGGED drops the row


def next_transition(logged: Logged, current: Current | None, *, now: datetime, edited: bool) -> Transition:
    """`edited`: the transaction changed the article (or what its page shows); False when
    only the clock moved it (a scheduled article coming due)."""
    shown = current is not None and current.status == "published" and not current.deleted
    published_at = current.published_at if current is not None else None
    visible = shown and published_at is not None and published_at <= now
    tickers = logged.ticker_ids | (current.ticker_ids if current is not None else frozenset())
    if logged.visible and visible:
        kind = UPDATED if edited else None
    elif logged.visible:
        kind = DELETED if current is None or current.deleted else UNPUBLISHED
    else:
        kind = PUBLISHED if visible else None
    due_at = published_at if shown and not visible else None
    after = Logged(visible=visible, due_at=due_at, ticker_ids=tickers if visible else frozenset())
    return Transition(type=kind, tickers=tickers, logged=after if visible or due_at else NOT_LOGGED)
