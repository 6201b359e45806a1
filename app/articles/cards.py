"""Card objects read by `app.articles.queries` as the allow-listed shapes clients see.

One mapping makes every card: lists, detail, related, feeds and newsletter editions all
build theirs here from the same object. The results are plain values serialized once
(`app.responses`), or validated into `ArticleCard` where code needs the model (mail).
"""

from datetime import datetime
from typing import Any

ROLE_ORDER = {"primary": 0, "mentioned": 1}
# Timestamps arrive as naive UTC text inside the JSON (`app.sql.utc_text`).
TIMESTAMPS = ("published_at", "updated_at", "created_at", "deleted_at", "reviewed_at", "newest_match")
UTC_OFFSET = "+00:00"


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
            item[name] = datetime.fromisoformat(value + UTC_OFFSET)
    return item


def _ticker_order(ticker: dict[str, Any]) -> tuple[int, str]:
    return ROLE_ORDER[ticker["role"]], ticker["symbol"]


def _tag_order(tag: dict[str, Any]) -> str:
    return tag["name"].lower()


def card(item: dict[str, Any], site_url: str) -> dict[str, Any]:
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
        "hero_image": (
            {"url": item["hero_image_url"], "alt": item["hero_image_alt"] or "", "credit": item["hero_image_credit"]}
            if item["hero_image_url"]
            else None
        ),
        "author": {
            "id": item["author_id"], "slug": item["author_slug"], "name": item["author_name"],
            "kind": item["author_kind"], "avatar_url": item["author_avatar_url"],
        },
        "tickers": tickers,
        "tags": tags,
        "ai_generated": item["author_kind"] == "ai_agent",
        "canonical_url": canonical_url(site_url, item["slug"]),
        # A card stored by revision 1 (until `refresh_stale_cards` reaches it, during a
        # rolling deploy) has neither: an article then had no comments and was open.
        "comment_count": item.get("comment_count", 0),
        # SQLite's JSON has no booleans: the flag arrives as 0 or 1 there.
        "comments_open": bool(item.get("comments_open", True)),
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
