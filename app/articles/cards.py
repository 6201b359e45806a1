"""Card objects read by `app.articles.queries` as the allow-listed shapes clients see.

An article stores its card in the shape clients see (`app.articles.documents`), but for
`canonical_url`, which follows the site's address. A feed page on PostgreSQL passes the
stored cards through as text (`app.articles.feed`); everything else (detail, related,
feeds, newsletter editions, and feed pages on SQLite) parses them and completes them here,
with the same one mapping. The results are plain values serialized once
(`app.responses`), or validated into `ArticleCard` where code needs the model (mail).
"""

from datetime import datetime
from typing import Any

ROLE_ORDER = {"primary": 0, "mentioned": 1}
# Timestamps a card, or what the article page adds to it, carries (as the API writes them).
TIMESTAMPS = ("published_at", "updated_at", "created_at", "deleted_at", "reviewed_at", "newest_match")


def canonical_url(site_url: str, slug: str) -> str:
    return f"{site_url}/articles/{slug}"


def parse_card(item: dict[str, Any]) -> dict[str, Any]:
    """A card object as read, with its timestamps as aware datetimes; a stored card read
    with fields beside it (`app.articles.queries.stored_card`) comes as one object."""
    if "card" in item:
        item = item.pop("card") | item
    for name in TIMESTAMPS:
        value = item.get(name)
        if value is not None:
            item[name] = datetime.fromisoformat(value)
    return item


def _ticker_order(ticker: dict[str, Any]) -> tuple[int, str]:
    return ROLE_ORDER[ticker["role"]], ticker["symbol"]


def _tag_order(tag: dict[str, Any]) -> str:
    return tag["name"].lower()


def card(item: dict[str, Any], site_url: str) -> dict[str, Any]:
    """The card clients see. PostgreSQL stores tickers and tags in order; SQLite's
    `json_group_array` cannot order them (before 3.44), so they are sorted here."""
    tickers = item["tickers"] or []
    tags = item["tags"] or []
    # The lists are this object's own: sorted in place.
    tickers.sort(key=_ticker_order)
    tags.sort(key=_tag_order)
    return {
        "id": item["id"],
        "slug": item["slug"],
        "title": item["title"],
        "dek": item["dek"],
        "published_at": item["published_at"],
        "updated_at": item["updated_at"],
        "reading_time_minutes": item["reading_time_minutes"],
        "hero_image": item["hero_image"],
        "author": dict(item["author"]),
        "tickers": tickers,
        "tags": tags,
        "ai_generated": item["ai_generated"],
        "canonical_url": canonical_url(site_url, item["slug"]),
        "comment_count": item["comment_count"],
        "comments_open": item["comments_open"],
    }


def detail(item: dict[str, Any], site_url: str) -> dict[str, Any]:
    """The article page: the card, the body and the author box."""
    values = card(item, site_url)
    values["author"] |= {
        "bio": item["author_bio"], "expertise": item["author_expertise"],
        "audience": item["author_audience"], "disclosure": item["author_disclosure"],
    }
    review = (
        {"reviewed_by": item["reviewed_by"], "reviewed_at": item["reviewed_at"]}
        if item["reviewed_by"] and item["reviewed_at"]
        else None
    )
    return values | {
        "status": item["status"],
        "body_html": item["body_html"],
        "word_count": item["word_count"],
        "editorial_review": review,
        "created_at": item["created_at"],
    }
