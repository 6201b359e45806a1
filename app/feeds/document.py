"""A feed as plain data, built once from articles and rendered to each format.

Keeping the three formats on one document means they cannot disagree about which items,
ids, categories or tickers a feed carries. Items are named tuples: a feed makes some 250
of these objects, and a frozen dataclass costs several times more to make.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from app.articles.cards import card

# Tag URIs (RFC 4151) under the project's own authority: they depend only on the
# article id, so they survive edits, slug changes and a move of the public site.
ID_AUTHORITY = "tag:tickerfeed.dev,2026"
# The namespace of the per-item ticker elements, documented in the API contract.
TICKERFEED_NS = "https://tickerfeed.dev/ns/1.0"
AI_CATEGORY = "ai-generated"
LANGUAGE = "en"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FeedTicker(NamedTuple):
    symbol: str
    name: str
    exchange: str | None
    asset_class: str
    role: str


class FeedTag(NamedTuple):
    slug: str
    name: str


class FeedImage(NamedTuple):
    url: str
    alt: str
    credit: str | None


class FeedItem(NamedTuple):
    id: str
    url: str
    title: str
    summary: str
    content_html: str | None
    author_name: str
    author_url: str
    ai_generated: bool
    published: datetime
    updated: datetime
    tickers: list[FeedTicker]
    tags: list[FeedTag]
    image: FeedImage | None


@dataclass(frozen=True)
class FeedSubject:
    """What the feed is about: the whole site, or one ticker, author or tag."""

    key: str
    title: str
    description: str
    home_url: str


@dataclass(frozen=True)
class FeedDocument:
    id: str
    title: str
    description: str
    home_url: str
    self_url: str
    site_url: str
    language: str
    updated: datetime
    items: list[FeedItem]


def article_id(article_pk: int) -> str:
    return f"{ID_AUTHORITY}:article:{article_pk}"


def author_display_name(name: str, kind: str) -> str:
    # Partners must be able to disclose AI-written text (EU AI Act art. 50).
    return f"{name} (AI agent)" if kind == "ai_agent" else name


def to_item(article: dict[str, Any], *, site_url: str, full: bool) -> FeedItem:
    """A feed item from the card a row makes (`app.articles.cards`), so feeds and the JSON
    API cannot disagree about an article."""
    shown = card(article, site_url)
    author = shown["author"]
    image = shown["hero_image"]
    return FeedItem(
        id=article_id(shown["id"]),
        url=shown["canonical_url"],
        title=shown["title"],
        summary=shown["dek"],
        content_html=article["body_html"] if full else None,
        author_name=author_display_name(author["name"], author["kind"]),
        author_url=f"{site_url}/authors/{author['slug']}",
        ai_generated=shown["ai_generated"],
        published=shown["published_at"],
        updated=shown["updated_at"],
        tickers=[
            FeedTicker(ticker["symbol"], ticker["name"], ticker["exchange"], ticker["asset_class"], ticker["role"])
            for ticker in shown["tickers"]
        ],
        tags=[FeedTag(tag["slug"], tag["name"]) for tag in shown["tags"]],
        image=FeedImage(image["url"], image["alt"], image["credit"]) if image else None,
    )


def build_document(
    subject: FeedSubject, articles: list[dict[str, Any]], *, site_url: str, self_url: str, full: bool
) -> FeedDocument:
    items = [to_item(article, site_url=site_url, full=full) for article in articles]
    # Derived from the items, never from the clock, so equal data renders equal bytes.
    updated = max((max(item.updated, item.published) for item in items), default=EPOCH)
    return FeedDocument(
        id=f"{ID_AUTHORITY}:feed:{subject.key}",
        title=subject.title,
        description=subject.description,
        home_url=subject.home_url,
        self_url=self_url,
        site_url=site_url,
        language=LANGUAGE,
        updated=updated,
        items=items,
    )
