"""What a list of articles is filtered by, and the shape of the statement that reads it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, select
from sqlmodel import col

from app.caching.keys import list_keys
from app.db import UTCDateTime
from app.models import Article, ArticleTag, ArticleTicker, Author
from app.sql import any_of

NOW = bindparam("now", type_=UTCDateTime())


@dataclass(frozen=True)
class FeedFilters:
    ticker_ids: Sequence[int] = ()
    author_id: int | None = None
    tag_id: int | None = None
    author_kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    query: str | None = None

    def keys(self) -> tuple[str, ...]:
        """The content keys every article of this list carries (`app.caching.keys`)."""
        return list_keys(ticker_ids=self.ticker_ids, author_id=self.author_id, tag_id=self.tag_id)

    def search_words(self) -> list[str]:
        """The distinct words of `query`, lowercased, as SQLite's scoring counts them."""
        return sorted({word.lower() for word in (self.query or "").split()})


@dataclass(frozen=True)
class Shape:
    """What a feed statement looks like: everything but the values it is run with."""

    dialect: str
    tickers: int  # 0, 1 (walk that ticker's own index) or 2 (any of several)
    author: bool
    tag: bool
    author_kind: bool
    since: bool
    until: bool
    search_words: int | None  # None outside a search
    after: bool
    full_text: bool


def shape_of(filters: FeedFilters, *, dialect: str, after: Sequence[Any] | None, full_text: bool = False) -> Shape:
    return Shape(
        dialect=dialect,
        tickers=min(len(filters.ticker_ids), 2),
        author=filters.author_id is not None,
        tag=filters.tag_id is not None,
        author_kind=filters.author_kind is not None,
        since=filters.since is not None,
        until=filters.until is not None,
        search_words=len(filters.search_words()) if filters.query else None,
        after=after is not None,
        full_text=full_text,
    )


def filter_parameters(filters: FeedFilters) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if filters.ticker_ids:
        parameters["ticker_id"] = filters.ticker_ids[0]
        parameters["ticker_ids"] = list(filters.ticker_ids)
    for name in ("author_id", "tag_id", "author_kind", "since", "until"):
        if getattr(filters, name) is not None:
            parameters[name] = getattr(filters, name)
    return parameters


def is_visible(now: Any = NOW) -> ColumnElement[bool]:
    return (
        (col(Article.status) == "published")
        & col(Article.deleted_at).is_(None)
        & (col(Article.published_at) <= now)
    )


def filtered(statement: Select[Any], shape: Shape) -> Select[Any]:
    if shape.tickers:
        tagged = select(ArticleTicker.article_id).where(
            any_of(col(ArticleTicker.ticker_id), "ticker_ids", shape.dialect, Integer)
        )
        statement = statement.where(col(Article.id).in_(tagged))
    if shape.tag:
        tagged = select(ArticleTag.article_id).where(col(ArticleTag.tag_id) == bindparam("tag_id"))
        statement = statement.where(col(Article.id).in_(tagged))
    if shape.author:
        statement = statement.where(col(Article.author_id) == bindparam("author_id"))
    if shape.author_kind:
        by_kind = select(Author.id).where(col(Author.kind) == bindparam("author_kind"))
        statement = statement.where(col(Article.author_id).in_(by_kind))
    if shape.since:
        statement = statement.where(col(Article.published_at) >= bindparam("since", type_=UTCDateTime()))
    if shape.until:
        statement = statement.where(col(Article.published_at) < bindparam("until", type_=UTCDateTime()))
    return statement
