"""Each article's card, stored beside it as one JSON document and kept current by writes.

Lists are the reads that come in thousands, and building each card from the article, its
author, tickers and tags at read time was most of what a feed page cost PostgreSQL: 21
cards planned and built per page, 1,850 pages/s on the bare driver at 1M against 5,700
for the same page read from stored documents (pgbench, issue 9). So a card is built once
per write instead: the construct that describes it (`card_object`) runs in an UPDATE,
in the writing transaction, right after any flush that touches the article, its ticker
or tag links, or an author, ticker or tag field the card shows. The article page reads
the stored card too, with its body and author box beside it.

Cards written by an older revision of this code (or by a bulk load that bypasses the
ORM) are brought up to `CARD_REVISION` by `tickerfeed migrate` (and `serve`, which
migrates first): `refresh_stale_cards`. Bump it whenever `card_object` changes what it
builds.
"""

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, event, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session
from sqlmodel import col

from app.models import Article, ArticleTag, ArticleTicker, Author, Tag, Ticker
from app.sql import api_time, json_array_agg, json_bool, json_object, json_or_null, literal_key

CARD_REVISION = 3
NOTED_CARDS = "stale_cards"
BATCH = 2_000
# The fields of authors, tickers and tags a card shows: changing any other (a bio, an
# alias) leaves every card as it is.
SHOWN_FIELDS: dict[type, tuple[str, ...]] = {
    Author: ("slug", "name", "kind", "avatar_url"),
    Ticker: ("symbol", "name", "asset_class", "exchange"),
    Tag: ("slug", "name"),
}
LINKS: dict[type, Any] = {Author: Article.author_id, Ticker: ArticleTicker.ticker_id, Tag: ArticleTag.tag_id}


def _object(**fields: Any) -> Any:
    return json_object(*[part for name, value in fields.items() for part in (literal_key(name), value)])


def _links_json(
    link: Any, target: Any, on: Any, *, link_order: Sequence[Any] = (), target_order: Sequence[Any], **fields: Any
) -> Any:
    """An article's linked tickers or tags as a JSON array of objects, in the order the
    API shows them (by the link's `link_order`, then the linked row's `target_order`, in
    code point order as Python sorts, hence `COLLATE "C"`).
    Each object and each sort key of the linked row comes from a subquery of its own, so
    PostgreSQL looks the linked row up by its key: as a join it hashed all 500 tickers for
    every card (0.13 ms per card at 1M)."""

    def of_target(value: Any) -> Any:
        return select(value).where(col(target.id) == on).correlate(link).scalar_subquery()

    keys = [*link_order, *map(of_target, target_order)]
    aggregate = json_array_agg(of_target(_object(**fields)), *keys)
    return select(aggregate).where(link.article_id == Article.id).correlate(Article).scalar_subquery()


def _tickers_json() -> Any:
    return _links_json(
        ArticleTicker, Ticker, ArticleTicker.ticker_id,
        link_order=[col(ArticleTicker.role) != "primary"], target_order=[col(Ticker.symbol).collate("C")],
        symbol=Ticker.symbol, name=Ticker.name, asset_class=Ticker.asset_class, exchange=Ticker.exchange,
        role=ArticleTicker.role,
    )


def _tags_json() -> Any:
    return _links_json(
        ArticleTag, Tag, ArticleTag.tag_id, target_order=[func.lower(Tag.name).collate("C")], slug=Tag.slug, name=Tag.name,
    )


def card_object() -> Any:
    """One article's card as clients see it (`ArticleCard`) but for `canonical_url`, which
    follows the site's address (`app.articles.cards`), from `article` and its `author`."""
    has_image = col(Article.hero_image_url).is_not(None) & (col(Article.hero_image_url) != "")
    return _object(
        id=Article.id, slug=Article.slug, title=Article.title, dek=Article.dek,
        published_at=api_time(Article.published_at), updated_at=api_time(Article.updated_at),
        reading_time_minutes=Article.reading_time_minutes,
        hero_image=json_or_null(
            has_image,
            _object(
                url=Article.hero_image_url, alt=func.coalesce(Article.hero_image_alt, ""),
                credit=Article.hero_image_credit,
            ),
        ),
        author=_object(
            id=Article.author_id, slug=Author.slug, name=Author.name, kind=Author.kind, avatar_url=Author.avatar_url,
        ),
        tickers=_tickers_json(), tags=_tags_json(),
        ai_generated=json_bool(col(Author.kind) == "ai_agent"),
        comment_count=Article.comment_count, comments_open=json_bool(col(Article.comments_open)),
    )


def _refresh_statement() -> Any:
    card = select(card_object()).where(col(Author.id) == Article.author_id).correlate(Article).scalar_subquery()
    return update(Article).values(card=card, card_revision=CARD_REVISION)


REFRESH = _refresh_statement()


def _batches(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = iter(sorted(ids))
    while batch := list(islice(ordered, BATCH)):
        yield batch


def refresh_cards(connection: Connection, article_ids: Iterable[int]) -> None:
    """Rebuilds the stored cards of `article_ids`, in id order (two writers refreshing
    overlapping sets lock rows in the same order, so they cannot deadlock)."""
    for batch in _batches(article_ids):
        connection.execute(REFRESH.where(col(Article.id).in_(batch)))


async def refresh_stale_cards(begin: Callable[[], AbstractAsyncContextManager[AsyncConnection]]) -> int:
    """Brings every card built by an older revision (or by none) up to this one, a batch
    per transaction opened by `begin` (`engine.begin`: a writer waits on a few rows at a
    time); how many it rebuilt. Revisions only grow, so the stale cards are an index range
    and a start with none to rebuild costs one index lookup, not a scan of every article."""
    stale = select(Article.id).where(col(Article.card_revision) < CARD_REVISION).limit(BATCH)
    rebuilt = 0
    while True:
        async with begin() as connection:
            ids = list((await connection.execute(stale)).scalars())
            if not ids:
                return rebuilt
            await connection.run_sync(refresh_cards, ids)
        rebuilt += len(ids)


@dataclass
class StaleCards:
    """The cards a transaction's next flush leaves stale."""

    article_ids: set[int] = field(default_factory=set)
    new_articles: list[Article] = field(default_factory=list)


def _shown_field_changed(obj: Any) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in SHOWN_FIELDS[type(obj)])


def _articles_showing(connection: Connection, obj: Author | Ticker | Tag) -> set[int]:
    link = LINKS[type(obj)]
    article_id = Article.id if type(obj) is Author else link.class_.article_id
    return set(connection.execute(select(article_id).where(link == obj.id)).scalars())


@event.listens_for(Session, "before_flush")
def note_stale_cards(session: Session, _flush_context: Any, _instances: Any) -> None:
    stale: StaleCards = session.info.setdefault(NOTED_CARDS, StaleCards())
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Article):
            if obj.id is None:
                stale.new_articles.append(obj)
            else:
                stale.article_ids.add(obj.id)
        elif isinstance(obj, ArticleTicker | ArticleTag) and obj.article_id is not None:
            # A new article's links have no id yet: the article itself is noted.
            stale.article_ids.add(obj.article_id)
        elif type(obj) in SHOWN_FIELDS and obj in session.dirty and _shown_field_changed(obj):
            stale.article_ids |= _articles_showing(session.connection(), obj)


@event.listens_for(Session, "after_flush_postexec")
def refresh_stale_after_flush(session: Session, _flush_context: Any) -> None:
    stale: StaleCards | None = session.info.pop(NOTED_CARDS, None)
    if stale is None:
        return
    new_ids = {article.id for article in stale.new_articles if article.id is not None}
    refresh_cards(session.connection(), stale.article_ids | new_ids)


@event.listens_for(Session, "after_soft_rollback")
def forget_stale_cards(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(NOTED_CARDS, None)
