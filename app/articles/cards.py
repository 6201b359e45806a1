"""Rows of `app.articles.queries` as the allow-listed shapes clients see.

One mapping makes every card: lists, related, feeds and newsletter editions all build
theirs here from the same columns. The results are plain values that pydantic validates
once per response (FastAPI's `response_model`), not a model per card and field.
"""

from typing import Any

from app.sql import json_list

ROLE_ORDER = {"primary": 0, "mentioned": 1}


def canonical_url(site_url: str, slug: str) -> str:
    return f"{site_url}/articles/{slug}"


def _ticker_order(ticker: dict[str, Any]) -> tuple[int, str]:
    return ROLE_ORDER[ticker["role"]], ticker["symbol"]


def _tag_order(tag: dict[str, Any]) -> str:
    return tag["name"].lower()


def card(row: Any, site_url: str) -> dict[str, Any]:
    tickers = json_list(row.tickers)
    tags = json_list(row.tags)
    # The lists are fresh from this row's JSON: sorted in place.
    tickers.sort(key=_ticker_order)
    tags.sort(key=_tag_order)
    return {
        "id": row.id,
        "slug": row.slug,
        "title": row.title,
        "dek": row.dek,
        "published_at": row.published_at,
        "updated_at": row.updated_at,
        "reading_time_minutes": row.reading_time_minutes,
        "hero_image": (
            {"url": row.hero_image_url, "alt": row.hero_image_alt or "", "credit": row.hero_image_credit}
            if row.hero_image_url
            else None
        ),
        "author": {
            "id": row.author_id, "slug": row.author_slug, "name": row.author_name,
            "kind": row.author_kind, "avatar_url": row.author_avatar_url,
        },
        "tickers": tickers,
        "tags": tags,
        "ai_generated": row.author_kind == "ai_agent",
        "canonical_url": canonical_url(site_url, row.slug),
    }


def detail(row: Any, site_url: str) -> dict[str, Any]:
    """The article page: the card, the body and the author box."""
    values = card(row, site_url)
    values["author"] |= {
        "bio": row.author_bio, "expertise": row.author_expertise,
        "audience": row.author_audience, "disclosure": row.author_disclosure,
    }
    review = (
        {"reviewed_by": row.reviewed_by, "reviewed_at": row.reviewed_at}
        if row.reviewed_by and row.reviewed_at
        else None
    )
    return values | {
        "status": row.status,
        "body_html": row.body_html,
        "word_count": row.word_count,
        "editorial_review": review,
        "created_at": row.created_at,
    }
