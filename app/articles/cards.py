"""Articles as the allow-listed shapes clients see."""

from app.articles.schemas import (
    ArticleCard,
    ArticleDetail,
    ArticleTickerRef,
    AuthorBox,
    AuthorCard,
    EditorialReview,
    HeroImage,
    TagRef,
)
from typing import Any

from app.models import Article

ROLE_ORDER = {"primary": 0, "mentioned": 1}


def canonical_url(site_url: str, slug: str) -> str:
    return f"{site_url}/articles/{slug}"


def _card_fields(article: Article, site_url: str) -> dict[str, object]:
    links = sorted(article.ticker_links, key=lambda link: (ROLE_ORDER[link.role], link.ticker.symbol))
    hero = (
        HeroImage(url=article.hero_image_url, alt=article.hero_image_alt or "", credit=article.hero_image_credit)
        if article.hero_image_url
        else None
    )
    return {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "dek": article.dek,
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "reading_time_minutes": article.reading_time_minutes,
        "hero_image": hero,
        "author": AuthorCard.model_validate(article.author, from_attributes=True),
        "tickers": [
            ArticleTickerRef(
                symbol=link.ticker.symbol,
                name=link.ticker.name,
                asset_class=link.ticker.asset_class,
                exchange=link.ticker.exchange,
                role=link.role,  # type: ignore[arg-type]
            )
            for link in links
        ],
        "tags": sorted(
            (TagRef(slug=link.tag.slug, name=link.tag.name) for link in article.tag_links),
            key=lambda tag: tag.name.lower(),
        ),
        "ai_generated": article.author.kind == "ai_agent",
        "canonical_url": canonical_url(site_url, article.slug),
    }


def to_card(article: Article, site_url: str) -> ArticleCard:
    return ArticleCard.model_validate(_card_fields(article, site_url))


def card_fields_from_row(row: Any, links: list[Any], site_url: str) -> dict[str, object]:
    """The same card as `to_card`, from `ArticleRepository.list_feed_cards` rows: plain
    values that pydantic validates for the whole page at once."""
    tickers = sorted((link for link in links if link.role is not None),
                     key=lambda link: (ROLE_ORDER[link.role], link.key))
    tags = sorted((link for link in links if link.role is None), key=lambda link: link.name.lower())
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
        "tickers": [
            {"symbol": link.key, "name": link.name, "asset_class": link.asset_class,
             "exchange": link.exchange, "role": link.role}
            for link in tickers
        ],
        "tags": [{"slug": link.key, "name": link.name} for link in tags],
        "ai_generated": row.author_kind == "ai_agent",
        "canonical_url": canonical_url(site_url, row.slug),
    }


def to_detail(article: Article, site_url: str) -> ArticleDetail:
    review = (
        EditorialReview(reviewed_by=article.reviewed_by, reviewed_at=article.reviewed_at)
        if article.reviewed_by and article.reviewed_at
        else None
    )
    return ArticleDetail.model_validate(
        _card_fields(article, site_url)
        | {
            "status": article.status,
            "body_html": article.body_html,
            "word_count": article.word_count,
            "editorial_review": review,
            "created_at": article.created_at,
            "author": AuthorBox.model_validate(article.author, from_attributes=True),
        }
    )
