"""The read side of articles: Core statements, one per shape of request, built once.

Every place that shows articles (lists, detail, related, feeds, newsletter editions) reads
them here, in one statement that returns one row: the page as one JSON array of the
cards each article stores (`app.articles.documents`; its author, tickers and tags built
in by the write that last changed them), and beside it the state the page was read with
(`app.caching.state`). One JSON value decodes in microseconds; 21 rows of 25 typed columns
cost the driver and SQLAlchemy 0.6 ms (issue 9 profile). On PostgreSQL a feed page that
is not a search goes further and arrives as the text clients get (`page_text_statement`),
not decoded at all. A statement is built once per shape (which filters are present,
whether a cursor follows) and dialect, and reused with bind parameters.

The ORM session stays with the writes (`repository.py`), where its unit of work earns
its cost.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Integer, Select, String, Text, bindparam, cast, column, func, literal, select, table, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.articles.cards import canonical_url, parse_card
from app.articles.filters import NOW, FeedFilters, Shape, filter_parameters, filtered, is_visible, shape_of
from app.articles.search import ranked, search_parameters
from app.caching.keys import ALL, ARTICLES
from app.caching.state import state_columns, state_parameters
from app.db import UTCDateTime
from app.models import Article, ArticleTag, ArticleTicker, Author
from app.sql import any_of, api_time, as_json, fetch_all, fetch_one, json_array_agg, json_object, json_text_agg, literal_key

# article_ticker as the ticker feed sees it: with the copy of published_at that the
# migration's triggers maintain, indexed as (ticker_id, published_at, article_id).
ticker_feed = table(
    "article_ticker", column("article_id"), column("ticker_id"), column("published_at", UTCDateTime())
).alias("ticker_feed")
LIMIT = bindparam("limit", type_=Integer())
DETAIL_KEYS = (ALL,)
RELATED_KEYS = (ALL, ARTICLES)


@dataclass(frozen=True)
class CardPage:
    """Card objects in order (`app.articles.cards.parse_card`), and the row with the state
    they were read with."""

    items: list[dict[str, Any]]
    state: Mapping[str, Any]


def stored_card(**extra: Any) -> Any:
    """An article's stored card (`app.articles.documents`), with `extra` fields beside it
    (`parse_card` puts them together)."""
    if not extra:
        return col(Article.card)
    fields = {"card": as_json(col(Article.card)), **extra}
    return json_object(*[part for name, value in fields.items() for part in (literal_key(name), value)])


# What the article page shows beyond the card (`app.articles.cards.detail`).
DETAIL_FIELDS = {
    "body_html": Article.body_html, "status": Article.status, "created_at": api_time(Article.created_at),
    "deleted_at": api_time(Article.deleted_at), "word_count": Article.word_count,
    "reviewed_by": Article.reviewed_by, "reviewed_at": api_time(Article.reviewed_at),
    "author_bio": Author.bio, "author_expertise": as_json(Author.expertise),
    "author_audience": Author.audience, "author_disclosure": Author.disclosure,
}


def detail_object() -> Any:
    """What the article page shows, as one JSON object (`app.articles.cards.detail`), from
    `article` joined to `author`."""
    return stored_card(**DETAIL_FIELDS)


def _full_text(full_text: bool) -> dict[str, Any]:
    return {"body_html": Article.body_html} if full_text else {}


def _as_page(rows: Select[Any], dialect: str, row_key: Any = None) -> Select[Any]:
    """`rows` (one `card` column, in order) as one JSON array, beside the state columns."""
    page = rows.subquery("page")
    cards = select(json_array_agg(as_json(page.c.card))).scalar_subquery()
    return select(cards.label("cards"), *state_columns(dialect, row_key))


def _after(rows: Select[Any], key: list[Any], shape: Shape) -> Select[Any]:
    """Keyset: the rows after the cursor's key, in `key` order, at most `:limit`."""
    if shape.after:
        bound = [bindparam(f"after_{index}", type_=part.type) for index, part in enumerate(key)]
        rows = rows.where(tuple_(*key) < tuple_(*bound))
    return rows.order_by(*[part.desc() for part in key]).limit(LIMIT)


def _feed_rows(shape: Shape, *columns: Any, keyed: bool = False) -> Select[Any]:
    """The visible rows of a feed page as `columns`, newest first, after the cursor; with
    `keyed`, also each row's key (`key_date`, `key_id`) and `position` on the page."""
    key = [col(Article.published_at), col(Article.id)]
    if shape.tickers == 1:
        key = [ticker_feed.c.published_at, ticker_feed.c.article_id]
    if keyed:
        position = func.row_number().over(order_by=[part.desc() for part in key])
        columns = (*columns, key[0].label("key_date"), key[1].label("key_id"), position.label("position"))
    rows = select(*columns).select_from(Article)
    if shape.tickers == 1:
        # One ticker: walk that ticker's links newest first instead of the whole feed.
        rows = rows.join(ticker_feed, ticker_feed.c.article_id == Article.id).where(
            ticker_feed.c.ticker_id == bindparam("ticker_id"), ticker_feed.c.published_at <= NOW
        )
        shape = replace(shape, tickers=0)
    rows = filtered(rows.where(is_visible()), shape)
    return _after(rows, key, shape)


@cache
def feed_statement(shape: Shape) -> Select[Any]:
    """Newest first; keyset after the cursor."""
    return _as_page(_feed_rows(shape, stored_card(**_full_text(shape.full_text)).label("card")), shape.dialect)


@dataclass(frozen=True)
class PageText:
    """A feed page's first `size` cards as the JSON array clients get, and what the route
    needs beside them: how many rows were read (one more than `size` when a next page
    follows), the key of the last card shown, the first card's date and the state."""

    cards: str
    rows: int
    last_key: tuple[datetime, int] | None
    first_date: datetime | None
    state: Mapping[str, Any]


@cache
def page_text_statement(shape: Shape) -> Select[Any]:
    """A feed page (PostgreSQL, no search) as text: each stored card with its
    `canonical_url` put in front, joined in order by concatenation, with no JSON parsed or
    written on either side; this was a fifth of a W1 page's CPU in the app (issue 9)."""
    card_text = cast(col(Article.card), Text).label("card_text")
    page = _feed_rows(shape, card_text, col(Article.slug).label("slug"), keyed=True).subquery("page")
    size = bindparam("page_size", type_=Integer())
    with_url = bindparam("card_url_prefix", type_=String()) + page.c.slug + literal('",') + func.substr(page.c.card_text, 2)
    last = page.c.position == size
    summary = select(
        json_text_agg(with_url, page.c.position <= size, page.c.key_date, page.c.key_id).label("cards"),
        func.count().label("rows"),
        func.max(page.c.key_date).filter(last).label("last_date"),
        func.max(page.c.key_id).filter(last).label("last_id"),
        func.max(page.c.key_date).label("first_date"),
    ).subquery("summary")
    return select(summary, *state_columns(shape.dialect))


@cache
def first_date_statement(shape: Shape) -> Select[Any]:
    """The state of a page and its first row's `published_at`, without the cards: all a
    conditional request needs to be answered (`dated_state`)."""
    first = _feed_rows(shape, col(Article.published_at).label("published_at")).subquery("page")
    return select(select(first.c.published_at).scalar_subquery().label("first_date"), *state_columns(shape.dialect))


@cache
def search_statement(shape: Shape) -> Select[Any]:
    """A search page's ids by relevance, then newest, with their scores; keyset after the
    cursor. It reads `article` alone: a search runs for tens of milliseconds, and one that
    also named the card's six other tables and their indexes (more than PostgreSQL 15's 16
    fast-path locks) queued concurrent searches on the lock manager: 20 searches/s instead
    of 56 with ten at once at 1M (issue 9). The cards follow in `cards_statement`."""
    scores = ranked(shape)  # the candidates are already visible and filtered
    rows = select(col(Article.id).label("id"), scores.c.score, scores.c.newest_match)
    rows = rows.select_from(Article).join(scores, scores.c.id == Article.id)
    return _after(rows, [scores.c.score, col(Article.published_at), col(Article.id)], shape)


@cache
def cards_statement(dialect: str, full_text: bool) -> Select[Any]:
    """The cards of the articles `:ids`, beside the state."""
    rows = select(stored_card(**_full_text(full_text)).label("card")).select_from(Article)
    rows = rows.where(any_of(col(Article.id), "ids", dialect, Integer))
    return _as_page(rows, dialect)


def _newest_first(item: dict[str, Any]) -> tuple[Any, ...]:
    return item.get("score") or 0.0, item["published_at"], item["id"]


def _cards_of(row: Mapping[str, Any], scores: Mapping[int, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The page's cards in order, with a search's `score` and `newest_match` from `scores`.
    The database aggregates them in the order it read them; SQL does not promise that
    order, so it is restored here (a page is at most 101 cards)."""
    items = [parse_card(item) for item in row["cards"] or []]
    for item in items if scores else ():
        item["score"], item["newest_match"] = scores[item["id"]]["score"], scores[item["id"]]["newest_match"]
    items.sort(key=_newest_first, reverse=True)
    return items


def _feed_parameters(
    filters: FeedFilters, *, now: datetime, limit: int, after: Sequence[Any] | None
) -> dict[str, Any]:
    return {
        "now": now, "limit": limit, **state_parameters(filters.keys(), now),
        **filter_parameters(filters), **search_parameters(filters),
        **{f"after_{index}": value for index, value in enumerate(after or ())},
    }


async def read_feed(
    connection: AsyncConnection,
    filters: FeedFilters,
    *,
    now: datetime,
    limit: int,
    after: Sequence[Any] | None = None,
    full_text: bool = False,
) -> CardPage:
    """A page of cards (with `score` and `newest_match` in a search), newest first or by
    relevance, after the cursor's key `after`."""
    shape = shape_of(filters, dialect=connection.dialect.name, after=after, full_text=full_text)
    parameters = _feed_parameters(filters, now=now, limit=limit, after=after)
    if not filters.query:
        row = await fetch_one(connection, feed_statement(shape), parameters)
        return CardPage(_cards_of(row), row)
    found = {row["id"]: row for row in await fetch_all(connection, search_statement(shape), parameters)}
    row = await fetch_one(connection, cards_statement(shape.dialect, full_text), {**parameters, "ids": list(found)})
    return CardPage(_cards_of(row, found), row)


async def read_feed_text(
    connection: AsyncConnection,
    filters: FeedFilters,
    *,
    now: datetime,
    size: int,
    after: Sequence[Any] | None,
    site_url: str,
) -> PageText:
    """A feed page of `size` cards as text (`page_text_statement`)."""
    shape = shape_of(filters, dialect=connection.dialect.name, after=after, full_text=False)
    parameters = _feed_parameters(filters, now=now, limit=size + 1, after=after) | {
        "page_size": size, "card_url_prefix": card_url_prefix(site_url),
    }
    row = await fetch_one(connection, page_text_statement(shape), parameters)
    last_key = (row["last_date"], row["last_id"]) if row["last_id"] is not None else None
    return PageText(row["cards"], row["rows"], last_key, row["first_date"], row)


def card_url_prefix(site_url: str) -> str:
    """The start of a card's text up to its slug: `{"canonical_url":"<site>/articles/`.
    Slugs need no escaping in JSON (`app.fields.SLUG_PATTERN`)."""
    return '{"canonical_url":' + orjson.dumps(canonical_url(site_url, "")).decode()[:-1]


async def read_first_date(
    connection: AsyncConnection, filters: FeedFilters, *, now: datetime, after: Sequence[Any] | None = None
) -> tuple[Mapping[str, Any], datetime | None]:
    """The state row of a date-ordered page (not a search) and its first row's date."""
    shape = shape_of(filters, dialect=connection.dialect.name, after=after)
    row = await fetch_one(connection, first_date_statement(shape), _feed_parameters(filters, now=now, limit=1, after=after))
    return row, row["first_date"]


@cache
def detail_statement(dialect: str) -> Select[Any]:
    """An article that is not deleted, by slug, with what its page shows beyond the card.
    Its state covers `all` and the article's own key."""
    by_slug = (col(Article.slug) == bindparam("slug")) & col(Article.deleted_at).is_(None)
    rows = select(detail_object().label("card")).select_from(Article)
    rows = rows.join(Author, col(Author.id) == Article.author_id).where(by_slug)
    own_key = select(literal("article:") + cast(Article.id, String)).where(by_slug).scalar_subquery()
    return _as_page(rows, dialect, row_key=own_key)


async def read_detail(connection: AsyncConnection, slug: str, *, now: datetime) -> CardPage:
    parameters = {"slug": slug, **state_parameters(DETAIL_KEYS, now)}
    row = await fetch_one(connection, detail_statement(connection.dialect.name), parameters)
    return CardPage(_cards_of(row), row)


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
    rows = (
        select(stored_card(score=scores.c.score).label("card"))
        .select_from(Article)
        .join(scores, scores.c.article_id == Article.id)
        .where(is_visible())
        .order_by(scores.c.score.desc(), col(Article.published_at).desc(), col(Article.id).desc())
        .limit(LIMIT)
    )
    return _as_page(rows, dialect)


async def read_related(connection: AsyncConnection, article_id: int, *, now: datetime, limit: int) -> CardPage:
    parameters = {"article_id": article_id, "now": now, "limit": limit, **state_parameters(RELATED_KEYS, now)}
    row = await fetch_one(connection, related_statement(connection.dialect.name), parameters)
    return CardPage(_cards_of(row), row)
