"""The read side of articles: Core statements, one per shape of request, built once.

Every place that shows articles (lists, detail, related, feeds, newsletter editions) reads
them through these statements, and one row makes one card: its author joined, its tickers
and tags aggregated as JSON in the same row (`app.sql`). A statement is built once per
shape (which filters are present, whether a cursor follows) and dialect, and reused with
bind parameters, so a request pays for neither statement building nor a second query.
The ORM session stays with the writes (`repository.py`), where its unit of work earns
its cost.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    cast,
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    null,
    select,
    table,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.caching.keys import ALL, ARTICLES, list_keys
from app.caching.state import state_columns, state_parameters
from app.db import UTCDateTime
from app.models import Article, ArticleTag, ArticleTicker, Author, Tag, Ticker, TickerAlias
from app.sql import any_of, json_array_agg, json_object

# How many of a search's newest matches are ranked (and so the most a search can return).
SEARCH_CANDIDATES = 500

# The FTS5 table the SQLite migration creates; PostgreSQL uses `article.search_vector`.
sqlite_search = table("article_search", column("rowid"), column("article_search"))
# article_ticker as the ticker feed sees it: with the copy of published_at that the
# migration's triggers maintain, indexed as (ticker_id, published_at, article_id).
ticker_feed = table(
    "article_ticker", column("article_id"), column("ticker_id"), column("published_at", UTCDateTime())
).alias("ticker_feed")

NOW = bindparam("now", type_=UTCDateTime())
CANDIDATES = bindparam("candidates", type_=Integer())


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


def is_visible(now: Any = NOW) -> ColumnElement[bool]:
    return (
        (col(Article.status) == "published")
        & col(Article.deleted_at).is_(None)
        & (col(Article.published_at) <= now)
    )


def _key(name: str) -> Any:
    # Keys of JSON objects are written into the SQL: asyncpg cannot type a bound one.
    return literal_column(f"'{name}'")


def _tickers_json() -> Any:
    # Each link's object comes from a subquery of its own, so PostgreSQL looks the ticker up
    # by its key: as a join it hashed all 500 tickers for every card (0.13 ms per card at 1M).
    ticker = (
        select(json_object(
            _key("symbol"), Ticker.symbol, _key("name"), Ticker.name, _key("asset_class"), Ticker.asset_class,
            _key("exchange"), Ticker.exchange, _key("role"), ArticleTicker.role,
        ))
        .where(col(Ticker.id) == ArticleTicker.ticker_id)
        .correlate(ArticleTicker)
        .scalar_subquery()
    )
    return (
        select(json_array_agg(ticker))
        .select_from(ArticleTicker)
        .where(col(ArticleTicker.article_id) == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )


def _tags_json() -> Any:
    tag = (
        select(json_object(_key("slug"), Tag.slug, _key("name"), Tag.name))
        .where(col(Tag.id) == ArticleTag.tag_id)
        .correlate(ArticleTag)
        .scalar_subquery()
    )
    return (
        select(json_array_agg(tag))
        .select_from(ArticleTag)
        .where(col(ArticleTag.article_id) == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )


def card_columns(dialect: str, *, full_text: bool = False, row_key: Any = None) -> list[Any]:
    """What a card shows, from `article` joined to `author`, and the state the response is
    built from (`app.caching.state`); with `full_text`, the body too."""
    columns = [
        col(Article.id), col(Article.slug), col(Article.title), col(Article.dek),
        col(Article.published_at), col(Article.updated_at), col(Article.created_at),
        col(Article.reading_time_minutes), col(Article.hero_image_url), col(Article.hero_image_alt),
        col(Article.hero_image_credit), col(Article.author_id),
        col(Author.slug).label("author_slug"), col(Author.name).label("author_name"),
        col(Author.kind).label("author_kind"), col(Author.avatar_url).label("author_avatar_url"),
        _tickers_json().label("tickers"), _tags_json().label("tags"),
        *state_columns(dialect, row_key),
    ]
    if full_text:
        columns.append(col(Article.body_html))
    return columns


def _filtered(statement: Select[Any], shape: Shape) -> Select[Any]:
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


def _occurrences(text: Any, word: Any) -> Any:
    """How many times `word` appears in the lowercased `text`."""
    return (func.length(text) - func.length(func.replace(text, word, ""))) / func.length(word)


def _relevance(shape: Shape) -> Any:
    """A subquery of (id, score) for the newest `SEARCH_CANDIDATES` visible articles that
    match the query and the other filters.

    Ranking every match does not scale: a common word matches 4% of a million articles,
    and `ts_rank` over 40,000 of them took 1.8 s. The newest matches are found through the
    feed index (or the search index for rare words) and only they are ranked.

    The one place the two backends differ: PostgreSQL ranks a weighted tsvector with
    `ts_rank`; SQLite matches with FTS5 and scores a weighted count of the query's words.
    Title outweighs dek, which outweighs body, on both. Both scores depend on the article
    alone. FTS5's `bm25` does not: its IDF and average length move with every insert, so
    a search cursor holding the last score would skip or repeat results.
    """
    newest_first = (col(Article.published_at).desc(), col(Article.id).desc())
    if shape.dialect == "postgresql":
        tsquery = func.websearch_to_tsquery(literal_column("'english'"), bindparam("query", type_=String()))
        vector = literal_column("article.search_vector")
        matches = select(
            col(Article.id).label("id"), col(Article.published_at).label("published_at"), vector.label("vector")
        ).where(vector.op("@@")(tsquery))
        candidates = (
            _filtered(matches.where(is_visible()), shape).order_by(*newest_first).limit(CANDIDATES)
        ).subquery("candidates")
        score = func.ts_rank(candidates.c.vector, tsquery).cast(Float)
        return select(candidates.c.id, score.label("score"), _newest_match(candidates)).subquery("ranked")
    matched = select(sqlite_search.c.rowid).where(sqlite_search.c.article_search.op("MATCH")(bindparam("match")))
    matches = select(
        col(Article.id).label("id"), col(Article.published_at).label("published_at"),
        func.lower(Article.title).label("title"),
        func.lower(Article.dek).label("dek"), func.lower(Article.body_markdown).label("body"),
    ).where(col(Article.id).in_(matched))
    candidates = (
        _filtered(matches.where(is_visible()), shape).order_by(*newest_first).limit(CANDIDATES)
    ).subquery("candidates")
    weighted = [(candidates.c.title, 10), (candidates.c.dek, 4), (candidates.c.body, 1)]
    words = [bindparam(f"word_{index}", type_=String()) for index in range(shape.search_words or 0)]
    score = sum(
        (weight * _occurrences(text, word) for word in words for text, weight in weighted), literal(0)
    )
    return select(candidates.c.id, score.cast(Float).label("score"), _newest_match(candidates)).subquery("ranked")


def _newest_match(candidates: Any) -> Any:
    """The newest of a search's candidates, on every row: what a scheduled article that
    matches changes when it appears, wherever it ranks (`app.caching.state`)."""
    return func.max(candidates.c.published_at).over().label("newest_match")


@cache
def feed_statement(shape: Shape) -> Select[Any]:
    """Newest first, or by relevance then newest for a search; keyset after the cursor."""
    columns = card_columns(shape.dialect, full_text=shape.full_text)
    if shape.search_words is not None:
        # The candidates are already visible and filtered.
        ranked = _relevance(shape)
        statement = select(*columns, ranked.c.score, ranked.c.newest_match).select_from(Article)
        statement = statement.join(ranked, ranked.c.id == Article.id)
        key: list[Any] = [ranked.c.score, col(Article.published_at), col(Article.id)]
    else:
        statement = select(
            *columns, null().cast(Float).label("score"), null().cast(UTCDateTime()).label("newest_match")
        ).select_from(Article)
        key = [col(Article.published_at), col(Article.id)]
        if shape.tickers == 1:
            # One ticker: walk that ticker's links newest first instead of the whole feed.
            statement = statement.join(ticker_feed, ticker_feed.c.article_id == Article.id).where(
                ticker_feed.c.ticker_id == bindparam("ticker_id"), ticker_feed.c.published_at <= NOW
            )
            key = [ticker_feed.c.published_at, ticker_feed.c.article_id]
            shape = replace(shape, tickers=0)
        statement = _filtered(statement.where(is_visible()), shape)
    statement = statement.join(Author, col(Author.id) == Article.author_id)
    if shape.after:
        bound = [bindparam(f"after_{index}", type_=part.type) for index, part in enumerate(key)]
        statement = statement.where(tuple_(*key) < tuple_(*bound))
    return statement.order_by(*[part.desc() for part in key]).limit(bindparam("limit", type_=Integer()))


def feed_parameters(filters: FeedFilters, *, now: datetime, limit: int, after: Sequence[Any] | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": now, "limit": limit, **state_parameters(filters.keys(), now)}
    if filters.ticker_ids:
        parameters["ticker_id"] = filters.ticker_ids[0]
        parameters["ticker_ids"] = list(filters.ticker_ids)
    for name in ("author_id", "tag_id", "author_kind", "since", "until"):
        if getattr(filters, name) is not None:
            parameters[name] = getattr(filters, name)
    if filters.query:
        parameters["candidates"] = SEARCH_CANDIDATES
        parameters["query"] = filters.query
        parameters["match"] = search_terms(filters.query)
        for index, word in enumerate(filters.search_words()):
            parameters[f"word_{index}"] = word
    for index, value in enumerate(after or ()):
        parameters[f"after_{index}"] = value
    return parameters


def search_terms(query: str) -> str:
    """The words of a free-text query as an FTS5 expression: each word quoted, all required."""
    return " ".join('"{}"'.format(word.replace('"', '""')) for word in query.split())


def shape_of(
    filters: FeedFilters, *, dialect: str, after: Sequence[Any] | None, full_text: bool = False
) -> Shape:
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


async def feed_rows(
    connection: AsyncConnection,
    filters: FeedFilters,
    *,
    now: datetime,
    limit: int,
    after: Sequence[Any] | None = None,
    full_text: bool = False,
) -> list[Any]:
    """A page of card rows (with `score`, None outside a search)."""
    shape = shape_of(filters, dialect=connection.dialect.name, after=after, full_text=full_text)
    parameters = feed_parameters(filters, now=now, limit=limit, after=after)
    return list((await connection.execute(feed_statement(shape), parameters)).all())


DETAIL_KEYS = (ALL,)
RELATED_KEYS = (ALL, ARTICLES)


@cache
def detail_statement(dialect: str) -> Select[Any]:
    """An article that is not deleted, by slug, with what its page shows beyond the card.
    Its state covers `all` and the article's own key, named in the statement."""
    own_key = literal("article:") + cast(Article.id, String)
    return (
        select(
            *card_columns(dialect, full_text=True, row_key=own_key),
            col(Article.status), col(Article.deleted_at), col(Article.word_count), col(Article.reviewed_by),
            col(Article.reviewed_at), col(Author.bio).label("author_bio"),
            col(Author.expertise).label("author_expertise"), col(Author.audience).label("author_audience"),
            col(Author.disclosure).label("author_disclosure"),
        )
        .select_from(Article)
        .join(Author, col(Author.id) == Article.author_id)
        .where(col(Article.slug) == bindparam("slug"), col(Article.deleted_at).is_(None))
    )


async def detail_row(connection: AsyncConnection, slug: str, *, now: datetime) -> Any | None:
    parameters = {"slug": slug, **state_parameters(DETAIL_KEYS, now)}
    return (await connection.execute(detail_statement(connection.dialect.name), parameters)).first()


@cache
def related_statement(dialect: str) -> Select[Any]:
    """Visible articles sharing tickers (worth 2) and tags (worth 1) with `article_id`,
    best first, then newest."""
    article_id = bindparam("article_id", type_=Integer())
    own_tickers = select(ArticleTicker.ticker_id).where(col(ArticleTicker.article_id) == article_id)
    own_tags = select(ArticleTag.tag_id).where(col(ArticleTag.article_id) == article_id)
    shared = union_all(
        select(col(ArticleTicker.article_id).label("article_id"), literal(2).label("weight"))
        .where(col(ArticleTicker.ticker_id).in_(own_tickers)),
        select(col(ArticleTag.article_id).label("article_id"), literal(1).label("weight"))
        .where(col(ArticleTag.tag_id).in_(own_tags)),
    ).subquery("shared")
    scores = (
        select(shared.c.article_id, func.sum(shared.c.weight).label("score"))
        .where(shared.c.article_id != article_id)
        .group_by(shared.c.article_id)
        .subquery("scores")
    )
    return (
        select(*card_columns(dialect))
        .select_from(Article)
        .join(scores, scores.c.article_id == Article.id)
        .join(Author, col(Author.id) == Article.author_id)
        .where(is_visible())
        .order_by(scores.c.score.desc(), col(Article.published_at).desc(), col(Article.id).desc())
        .limit(bindparam("limit", type_=Integer()))
    )


async def related_rows(connection: AsyncConnection, article_id: int, *, now: datetime, limit: int) -> list[Any]:
    parameters = {"article_id": article_id, "now": now, "limit": limit, **state_parameters(RELATED_KEYS, now)}
    return list((await connection.execute(related_statement(connection.dialect.name), parameters)).all())


async def visible_counts(
    connection: AsyncConnection, *, by: str, ids: Sequence[int], now: datetime
) -> dict[int, tuple[int, datetime | None]]:
    """(count, newest published_at) of visible articles per author, ticker or tag id: the
    one place the catalogues count articles."""
    if not ids:
        return {}
    if by == "author_id":
        key: Any = col(Article.author_id)
        statement = select(key, func.count(), func.max(Article.published_at))
    else:
        link: Any = ArticleTicker if by == "ticker_id" else ArticleTag
        key = col(getattr(link, by))
        statement = select(key, func.count(), func.max(Article.published_at)).join(
            Article, col(Article.id) == link.article_id
        )
    statement = statement.where(is_visible(now), key.in_(ids)).group_by(key)
    rows = await connection.execute(statement)
    return {row[0]: (row[1], row[2]) for row in rows.all()}


@dataclass(frozen=True)
class Names:
    """Ids of what a request names: upper-case symbols and aliases, author and tag slugs."""

    tickers: dict[str, int]
    authors: dict[str, int]
    tags: dict[str, int]


@cache
def names_statement(dialect: str, tickers: bool, authors: bool, tags: bool) -> Any:
    parts = []
    if tickers:
        parts += [
            select(literal_column("'ticker'").label("kind"), col(Ticker.symbol).label("name"), col(Ticker.id).label("id"))
            .where(any_of(col(Ticker.symbol), "symbols", dialect)),
            select(literal_column("'ticker'"), col(TickerAlias.alias), col(TickerAlias.ticker_id))
            .where(any_of(col(TickerAlias.alias), "symbols", dialect)),
        ]
    if authors:
        parts.append(
            select(literal_column("'author'"), col(Author.slug), col(Author.id))
            .where(any_of(col(Author.slug), "author_slugs", dialect))
        )
    if tags:
        parts.append(
            select(literal_column("'tag'"), col(Tag.slug), col(Tag.id))
            .where(any_of(col(Tag.slug), "tag_slugs", dialect))
        )
    return union_all(*parts) if len(parts) > 1 else parts[0]


async def resolve_names(
    connection: AsyncConnection,
    *,
    symbols: Sequence[str] = (),
    author_slugs: Sequence[str] = (),
    tag_slugs: Sequence[str] = (),
) -> Names:
    """Symbols (or aliases, any case), author slugs and tag slugs to ids, in one round trip
    and without loading anything else; unknown names are simply absent."""
    found = Names(tickers={}, authors={}, tags={})
    if not (symbols or author_slugs or tag_slugs):
        return found
    parameters = {
        "symbols": sorted({symbol.upper() for symbol in symbols}),
        "author_slugs": list(author_slugs),
        "tag_slugs": list(tag_slugs),
    }
    statement = names_statement(connection.dialect.name, bool(symbols), bool(author_slugs), bool(tag_slugs))
    by_kind = {"ticker": found.tickers, "author": found.authors, "tag": found.tags}
    for kind, name, found_id in (await connection.execute(statement, parameters)).all():
        by_kind[kind][name] = found_id
    return found
