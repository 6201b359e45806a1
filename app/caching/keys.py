"""What a response depends on, and what a write changes, as content keys.

Every response depends on `all` (what any page can show: authors, tickers, tags,
newsletters) and on the narrowest keys that cover its rows:

- an article's page on `article:<id>`;
- a list of articles on `author:<id>`, `tag:<id>` or its `ticker:<id>`s when it is
  filtered by one of them (every row of it carries that key), else on `articles`;
- the catalogues, whose counts and newest dates move with publishing, on `counts`.

An article's comment pages (its thread and each comment's replies) depend on
`article:<id>` and `comments:<id>`: a comment write bumps `comments:<id>`, and one that
moves the article's approved count changes the article row, so its page and lists too.

A write to an article bumps `article:<id>` and, for every list the article is on before
or after the write, that list's keys; `counts` when what is counted moved. A write to any
other content bumps `all`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

ALL = "all"
ARTICLES = "articles"
COUNTS = "counts"
# Authors, tickers and tags with their article counts.
CATALOGUE_KEYS = (ALL, COUNTS)


def article_key(article_id: int) -> str:
    return f"article:{article_id}"


def comments_key(article_id: int) -> str:
    return f"comments:{article_id}"


def ticker_key(ticker_id: int) -> str:
    return f"ticker:{ticker_id}"


def author_key(author_id: int) -> str:
    return f"author:{author_id}"


def tag_key(tag_id: int) -> str:
    return f"tag:{tag_id}"


def list_keys(
    *, ticker_ids: Iterable[int] = (), author_id: int | None = None, tag_id: int | None = None
) -> tuple[str, ...]:
    """The keys of a list of articles: one filter every row must match is enough."""
    if author_id is not None:
        return (ALL, author_key(author_id))
    if tag_id is not None:
        return (ALL, tag_key(tag_id))
    ticker_ids = sorted(set(ticker_ids))
    if ticker_ids:
        return (ALL, *(ticker_key(ticker_id) for ticker_id in ticker_ids))
    return (ALL, ARTICLES)


@dataclass(frozen=True)
class Footprint:
    """Where an article shows, as far as caching cares."""

    article_id: int
    listed: bool  # published and not deleted: on its lists now, or once it is due
    published_at: datetime | None
    author_id: int
    ticker_ids: frozenset[int]
    tag_ids: frozenset[int]

    def list_keys(self) -> set[str]:
        if not self.listed:
            return set()
        return {
            ARTICLES, author_key(self.author_id),
            *(ticker_key(ticker_id) for ticker_id in self.ticker_ids),
            *(tag_key(tag_id) for tag_id in self.tag_ids),
        }

    def counted(self) -> tuple[object, ...]:
        """What the catalogues' counts and newest dates see of the article."""
        if not self.listed:
            return ()
        return (self.published_at, self.author_id, self.ticker_ids, self.tag_ids)


def changed_keys(article_id: int, before: Footprint | None, after: Footprint | None) -> set[str]:
    """The keys an article write changed: its page, and the lists it was or is on."""
    keys = {article_key(article_id)}
    for footprint in (before, after):
        if footprint is not None:
            keys |= footprint.list_keys()
    counted_before = before.counted() if before else ()
    counted_after = after.counted() if after else ()
    if counted_before != counted_after:
        keys.add(COUNTS)
    return keys
