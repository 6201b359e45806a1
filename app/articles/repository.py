"""Article queries: the public feed, search on both backends, related articles."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Row,
    Select,
    String,
    column,
    func,
    literal,
    literal_column,
    null,
    table,
    tuple_,
    union_all,
)
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import UTCDateTime
from app.models import Article, ArticleTag, ArticleTicker, Author, Tag, Ticker

# The FTS5 table the SQLite migration creates; PostgreSQL uses `article.search_vector`.
sqlite_search = table("article_search", column("rowid"), column("article_search"))
# article_ticker as the ticker feed sees it: with the copy of published_at that the
# migration's triggers maintain, indexed as (ticker_id, published_at, article_id).
ticker_feed = table(
    "article_ticker", column("article_id"), column("ticker_id"), column("published_at", UTCDateTime())
).alias("ticker_feed")


# How many of a search's newest matches are ranked (and so the most a search can return).
SEARCH_CANDIDATES = 500


@dataclass(frozen=True)
class FeedFilters:
    ticker_ids: Sequence[int] = ()
    author_id: int | None = None
    tag_id: int | None = None
    author_kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    query: str | None = None
    exclude_ids: Sequence[int] = field(default_factory=tuple)


def card_options() -> list[Any]:
    """Everything a card shows in three queries: the rows joined to their author, then the
    ticker links joined to their tickers, then the tag links joined to their tags."""
    return [
        joinedload(Article.author, innerjoin=True),  # type: ignore[arg-type]
        selectinload(Article.ticker_links).joinedload(ArticleTicker.ticker, innerjoin=True),  # type: ignore[arg-type]
        selectinload(Article.tag_links).joinedload(ArticleTag.tag, innerjoin=True),  # type: ignore[arg-type]
    ]


# What a feed card shows, read as plain columns: no ORM identity map, no body text.
CARD_COLUMNS = (
    col(Article.id), col(Article.slug), col(Article.title), col(Article.dek),
    col(Article.published_at), col(Article.updated_at), col(Article.reading_time_minutes),
    col(Article.hero_image_url), col(Article.hero_image_alt), col(Article.hero_image_credit),
    col(Author.slug).label("author_slug"), col(Author.name).label("author_name"),
    col(Author.kind).label("author_kind"), col(Author.avatar_url).label("author_avatar_url"),
    col(Article.author_id),
)


def is_visible(now: datetime) -> ColumnElement[bool]:
    return (
        (col(Article.status) == "published")
        & col(Article.deleted_at).is_(None)
        & (col(Article.published_at) <= now)
    )


def search_terms(query: str) -> str:
    """The words of a free-text query as an FTS5 expression: each word quoted, all required."""
    words = [word.replace('"', '""') for word in query.split()]
    return " ".join(f'"{word}"' for word in words)


def _occurrences(column: Any, word: str) -> Any:
    """How many times `word` appears in `column`, ignoring ASCII case."""
    text = func.lower(column)
    return (func.length(text) - func.length(func.replace(text, word, ""))) // len(word)


class ArticleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _is_postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def get_by_slug(self, slug: str, *, include_deleted: bool = False) -> Article | None:
        statement = select(Article).where(Article.slug == slug).options(*card_options())
        if not include_deleted:
            statement = statement.where(col(Article.deleted_at).is_(None))
        return (await self.session.exec(statement)).first()

    async def slug_exists(self, slug: str) -> bool:
        statement = select(Article.id).where(Article.slug == slug)
        return (await self.session.exec(statement)).first() is not None

    async def add(self, article: Article) -> Article:
        self.session.add(article)
        await self.session.flush()
        return article

    def _filtered(self, statement: Select[Any], filters: FeedFilters) -> Select[Any]:
        if filters.ticker_ids:
            tagged = select(ArticleTicker.article_id).where(
                col(ArticleTicker.ticker_id).in_(filters.ticker_ids)
            )
            statement = statement.where(col(Article.id).in_(tagged))
        if filters.tag_id is not None:
            tagged = select(ArticleTag.article_id).where(ArticleTag.tag_id == filters.tag_id)
            statement = statement.where(col(Article.id).in_(tagged))
        if filters.author_id is not None:
            statement = statement.where(Article.author_id == filters.author_id)
        if filters.author_kind is not None:
            by_kind = select(Author.id).where(Author.kind == filters.author_kind)
            statement = statement.where(col(Article.author_id).in_(by_kind))
        if filters.since is not None:
            statement = statement.where(col(Article.published_at) >= filters.since)
        if filters.until is not None:
            statement = statement.where(col(Article.published_at) < filters.until)
        if filters.exclude_ids:
            statement = statement.where(col(Article.id).not_in(filters.exclude_ids))
        return statement

    def _relevance(self, filters: FeedFilters, *, now: datetime) -> Any:
        """A subquery of (id, score) for the newest `SEARCH_CANDIDATES` visible articles that
        match `filters.query` and the other filters, higher score first.

        Ranking every match does not scale: a common word matches 4% of a million articles,
        and `ts_rank` over 40,000 of them took 1.8 s. The newest matches are found through the
        feed index (or the search index for rare words) and only they are ranked.

        The one place the two backends differ: PostgreSQL ranks a weighted tsvector
        with `ts_rank`; SQLite matches with FTS5 and scores a weighted count of the
        query's words. Title outweighs dek, which outweighs body, on both.

        Both scores depend on the article alone. FTS5's `bm25` does not: its IDF and
        average length move with every insert, so a search cursor holding the last
        score would skip or repeat results while articles are published.
        """
        query = filters.query or ""
        if self._is_postgresql():
            tsquery = func.websearch_to_tsquery("english", query)
            vector = literal_column("article.search_vector")
            matches = select(col(Article.id).label("id"), vector.label("vector")).where(vector.op("@@")(tsquery))
            candidates = self._newest(matches, filters, now=now)
            return select(
                candidates.c.id, func.ts_rank(candidates.c.vector, tsquery).cast(Float).label("score")
            ).subquery("ranked")
        matched = select(sqlite_search.c.rowid).where(
            sqlite_search.c.article_search.op("MATCH")(search_terms(query))
        )
        matches = select(
            col(Article.id).label("id"), col(Article.title).label("title"), col(Article.dek).label("dek"),
            col(Article.body_markdown).label("body"),
        ).where(col(Article.id).in_(matched))
        candidates = self._newest(matches, filters, now=now)
        weighted = [(candidates.c.title, 10), (candidates.c.dek, 4), (candidates.c.body, 1)]
        score = sum(
            weight * _occurrences(column, word)
            for word in sorted({word.lower() for word in query.split()})
            for column, weight in weighted
        ) + literal(0)
        return select(candidates.c.id, score.cast(Float).label("score")).subquery("ranked")

    def _newest(self, matches: Select[Any], filters: FeedFilters, *, now: datetime) -> Any:
        statement = self._filtered(matches.where(is_visible(now)), filters)
        newest_first = (col(Article.published_at).desc(), col(Article.id).desc())
        return statement.order_by(*newest_first).limit(SEARCH_CANDIDATES).subquery("candidates")

    def _feed_statement(
        self, columns: Sequence[Any], filters: FeedFilters, *, now: datetime, limit: int,
        after: Sequence[Any] | None,
    ) -> Select[Any]:
        """Newest first, or by relevance then newest for a search; keyset after `after`."""
        if filters.query:
            # The candidates are already visible and filtered.
            ranked = self._relevance(filters, now=now)
            score: Any = ranked.c.score
            statement: Select[Any] = select(*columns, score.label("score")).select_from(Article)
            statement = statement.join(ranked, ranked.c.id == Article.id)
            key: list[Any] = [score, Article.published_at, Article.id]
            if after is not None:
                statement = statement.where(tuple_(*key) < tuple(after))
            return statement.order_by(*[col(part).desc() for part in key]).limit(limit)
        statement = select(*columns, literal(None).label("score")).select_from(Article)
        key = [Article.published_at, Article.id]
        if len(filters.ticker_ids) == 1:
            # One ticker: walk that ticker's links newest first instead of the whole feed.
            statement = statement.join(ticker_feed, ticker_feed.c.article_id == Article.id).where(
                ticker_feed.c.ticker_id == filters.ticker_ids[0], ticker_feed.c.published_at <= now
            )
            key = [ticker_feed.c.published_at, ticker_feed.c.article_id]
            filters = replace(filters, ticker_ids=())
        statement = self._filtered(statement.where(is_visible(now)), filters)
        if after is not None:
            statement = statement.where(tuple_(*key) < tuple(after))
        return statement.order_by(*[col(part).desc() for part in key]).limit(limit)

    async def list_feed(
        self, filters: FeedFilters, *, now: datetime, limit: int, after: Sequence[Any] | None
    ) -> list[tuple[Article, float | None]]:
        """Whole articles with their relations, for callers that need more than a card."""
        statement = self._feed_statement([Article], filters, now=now, limit=limit, after=after)
        rows = await self.session.exec(statement.options(*card_options()))
        return [(article, found_score) for article, found_score in rows.all()]

    async def list_feed_rows(
        self, filters: FeedFilters, *, now: datetime, limit: int, after: Sequence[Any] | None
    ) -> list[Row[Any]]:
        """A feed page as card columns joined to the author, with `score` (None outside a
        search); `card_links` then loads the tickers and tags of the page in one query."""
        statement = self._feed_statement(CARD_COLUMNS, filters, now=now, limit=limit, after=after)
        statement = statement.join(Author, col(Author.id) == Article.author_id)
        return list((await self.session.exec(statement)).all())

    async def card_links(self, article_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
        """Tickers and tags of many articles in one round trip; a tag row has `role` None."""
        if not article_ids:
            return {}
        tickers = (
            select(
                col(ArticleTicker.article_id).label("article_id"), col(ArticleTicker.role).label("role"),
                col(Ticker.symbol).label("key"), col(Ticker.name).label("name"),
                col(Ticker.asset_class).label("asset_class"), col(Ticker.exchange).label("exchange"),
            )
            .join(Ticker, col(Ticker.id) == ArticleTicker.ticker_id)
            .where(col(ArticleTicker.article_id).in_(article_ids))
        )
        tags = (
            select(
                col(ArticleTag.article_id), null().cast(String), col(Tag.slug), col(Tag.name),
                null().cast(String), null().cast(String),
            )
            .join(Tag, col(Tag.id) == ArticleTag.tag_id)
            .where(col(ArticleTag.article_id).in_(article_ids))
        )
        links: dict[int, list[Row[Any]]] = {}
        for row in (await self.session.exec(union_all(tickers, tags))).all():  # type: ignore[call-overload]
            links.setdefault(row.article_id, []).append(row)
        return links

    async def list_related(self, article: Article, *, now: datetime, limit: int) -> list[Article]:
        """Articles sharing tickers (worth 2) and tags (worth 1) with `article`, best first."""
        ticker_ids = [link.ticker_id for link in article.ticker_links]
        tag_ids = [link.tag_id for link in article.tag_links]
        if not ticker_ids and not tag_ids:
            return []
        shared = union_all(
            select(col(ArticleTicker.article_id).label("article_id"), literal(2).label("weight"))
            .where(col(ArticleTicker.ticker_id).in_(ticker_ids or [-1])),
            select(col(ArticleTag.article_id).label("article_id"), literal(1).label("weight"))
            .where(col(ArticleTag.tag_id).in_(tag_ids or [-1])),
        ).subquery("shared")
        scores = (
            select(shared.c.article_id, func.sum(shared.c.weight).label("score"))
            .where(shared.c.article_id != article.id)
            .group_by(shared.c.article_id)
            .subquery("scores")
        )
        statement = (
            select(Article)
            .join(scores, scores.c.article_id == Article.id)
            .where(is_visible(now))
            .order_by(scores.c.score.desc(), col(Article.published_at).desc(), col(Article.id).desc())
            .limit(limit)
            .options(*card_options())
        )
        return list((await self.session.exec(statement)).all())

    async def count_visible_by(
        self, column_name: str, ids: Sequence[int], *, now: datetime
    ) -> dict[int, tuple[int, datetime | None]]:
        """(count, newest published_at) of visible articles per author, ticker or tag id."""
        if not ids:
            return {}
        if column_name == "author_id":
            key: Any = Article.author_id
            statement = select(key, func.count(), func.max(Article.published_at))
        else:
            link = ArticleTicker if column_name == "ticker_id" else ArticleTag
            key = getattr(link, column_name)
            statement = select(key, func.count(), func.max(Article.published_at)).join(
                Article, col(Article.id) == link.article_id  # type: ignore[attr-defined]
            )
        statement = statement.where(is_visible(now), col(key).in_(ids)).group_by(key)
        rows = await self.session.exec(statement)
        return {row[0]: (row[1], row[2]) for row in rows.all()}

    async def exists_for_author(self, author_id: int) -> bool:
        statement = select(Article.id).where(Article.author_id == author_id).limit(1)
        return (await self.session.exec(statement)).first() is not None
