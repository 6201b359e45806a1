"""The changes log (issue 12): every change of what readers see, in the order it took effect.

`article_change` is the log, ordered by `seq`; `article_change_ticker` the tickers each
change matches (what the article carried and carries); `article_mirror_state` what the log
has told mirrors of each visible or scheduled article; `change_log_head` the one row whose
lock orders the appenders (`app.changes.log`).
"""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index
from sqlmodel import Field, SQLModel

from app.models.base import timestamp


class ArticleChange(SQLModel, table=True):
    __tablename__ = "article_change"
    # Whether a later change of the same article supersedes one (`app.changes.queries`).
    __table_args__ = (Index("ix_article_change_article_id_seq", "article_id", "seq"),)

    # Assigned under the head's lock, not by a sequence: a sequence hands out numbers in
    # the order transactions ask, and they may commit in another order.
    seq: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    type: str = Field(max_length=32)
    occurred_at: datetime = timestamp()
    # No foreign key: the log outlives what it reports.
    article_id: int
    slug: str = Field(max_length=120)


class ArticleChangeTicker(SQLModel, table=True):
    __tablename__ = "article_change_ticker"
    __table_args__ = (Index("ix_article_change_ticker_ticker_id_seq", "ticker_id", "seq"),)

    seq: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("article_change.seq", ondelete="CASCADE"), primary_key=True, autoincrement=False
        )
    )
    ticker_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


class ArticleMirrorState(SQLModel, table=True):
    """A row while an article is visible by the log's account, or scheduled."""

    __tablename__ = "article_mirror_state"

    article_id: int = Field(foreign_key="article.id", primary_key=True, ondelete="CASCADE")
    visible: bool
    # When a scheduled article comes due: the next reader of the log logs it then.
    due_at: datetime | None = timestamp(nullable=True, index=True)
    # Every ticker the article carried since it became visible: its unpublish or tombstone
    # matches them all, so a mirror of one ticker hears of it whatever was edited between.
    ticker_ids: list[int] = Field(default_factory=list, sa_type=JSON)


class ChangeLogHead(SQLModel, table=True):
    __tablename__ = "change_log_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = Field(sa_type=BigInteger)
    # The newest change `tickerfeed changes prune` removed: a cursor before it is a 410.
    pruned_seq: int = Field(sa_type=BigInteger)
