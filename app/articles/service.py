"""Article rules: rendering, ticker linking, visibility, publishing and tombstones."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.rendering import find_cashtags, render_body
from app.articles import queries
from app.articles.repository import ArticleRepository
from app.articles.schemas import ArticleCreate, ArticleUpdate, EditorialReviewInput
from app.authors import service as authors_service
from app.models import Article, ArticleTag, ArticleTicker, Author, Tag, Ticker
from app.problems import Conflict, InvalidFields, NotFound
from app.tags import service as tags_service
from app.tickers import service as tickers_service
from app.updates import changes_of, save_changes, state_of


def is_public(article: dict[str, Any], *, now: datetime) -> bool:
    """Readable by anyone: published, not deleted, and due (a card object read by `queries`)."""
    return (
        article["status"] == "published"
        and article["deleted_at"] is None
        and article["published_at"] is not None
        and article["published_at"] <= now
    )


async def get_article_for_edit(session: AsyncSession, slug: str) -> Article:
    """Any article that is not deleted, with what an edit changes loaded."""
    article = await ArticleRepository(session).get_for_edit(slug)
    if article is None:
        raise NotFound(f"No article with slug '{slug}'.")
    return article


async def read_article(
    connection: AsyncConnection, slug: str, *, now: datetime, include_unpublished: bool = False
) -> Any:
    """The page of a public article, or of any article that is not deleted for an editor:
    one card object (`queries.read_detail`)."""
    page = await queries.read_detail(connection, slug, now=now)
    if not page.items or not (include_unpublished or is_public(page.items[0], now=now)):
        raise NotFound(f"No article with slug '{slug}'.")
    return page


def _apply_review(
    article: Article, author: Author, review: EditorialReviewInput | None, *, now: datetime
) -> None:
    if review is not None and author.kind != "ai_agent":
        raise InvalidFields.one(
            ["body", "editorial_review"], "applies only to articles written by an AI agent"
        )
    article.reviewed_by = review.reviewed_by if review else None
    article.reviewed_at = (review.reviewed_at or now) if review else None


async def _render(session: AsyncSession, article: Article, site_url: str) -> list[Ticker]:
    """Renders the body and returns the known tickers its cashtags name."""
    mentioned = await tickers_service.resolve_symbols(session, find_cashtags(article.body_markdown))
    rendered = render_body(
        article.body_markdown,
        site_url=site_url,
        resolve=lambda symbol: mentioned[symbol].symbol if symbol in mentioned else None,
    )
    article.body_html = rendered.html
    article.word_count = rendered.word_count
    article.reading_time_minutes = rendered.reading_time_minutes
    return list({ticker.id: ticker for ticker in mentioned.values()}.values())


def _link_tickers(article: Article, primary: Sequence[Ticker], mentioned: Sequence[Ticker]) -> None:
    """Editor-named tickers are `primary`; cashtag-only ones are `mentioned`.

    Existing link rows are updated in place: deleting and re-inserting the same
    primary key in one flush would collide.
    """
    wanted = {ticker.id: "primary" for ticker in primary}
    for ticker in mentioned:
        wanted.setdefault(ticker.id, "mentioned")
    tickers = {ticker.id: ticker for ticker in [*primary, *mentioned]}
    kept = []
    for link in article.ticker_links:
        if link.ticker_id in wanted:
            link.role = wanted.pop(link.ticker_id)
            kept.append(link)
    new = [
        ArticleTicker(ticker_id=ticker_id, role=role, ticker=tickers[ticker_id])  # type: ignore[arg-type]
        for ticker_id, role in wanted.items()
    ]
    article.ticker_links = kept + new


def _link_tags(article: Article, tags: Sequence[Tag]) -> None:
    existing = {link.tag_id: link for link in article.tag_links}
    article.tag_links = [
        existing.get(tag.id) or ArticleTag(tag_id=tag.id, tag=tag)  # type: ignore[arg-type]
        for tag in tags
    ]


def _hero(values: dict[str, Any] | None) -> dict[str, Any]:
    values = values or {}
    return {
        "hero_image_url": str(values["url"]) if values.get("url") else None,
        "hero_image_alt": values.get("alt"),
        "hero_image_credit": values.get("credit"),
    }


async def create_article(
    session: AsyncSession, *, data: ArticleCreate, site_url: str, now: datetime
) -> Article:
    repository = ArticleRepository(session)
    slug = data.slug or slugify(data.title, max_length=120, word_boundary=True)
    if not slug:
        raise InvalidFields.one(["body", "slug"], "cannot be derived from the title; give one")
    author = await authors_service.require_author(session, data.author, loc=["body", "author"])
    primary = await tickers_service.require_symbols(session, data.tickers, loc=["body", "tickers"])
    tags = await tags_service.require_tags(session, data.tags, loc=["body", "tags"])
    if await repository.slug_exists(slug):
        raise Conflict(f"An article with slug '{slug}' already exists.")

    article = Article(
        slug=slug,
        title=data.title,
        dek=data.dek,
        body_markdown=data.body_markdown,
        body_html="",
        word_count=0,
        reading_time_minutes=0,
        status=data.status,
        published_at=data.published_at or (now if data.status == "published" else None),
        author_id=author.id,  # type: ignore[arg-type]
        author=author,
        created_at=now,
        updated_at=now,
        ticker_links=[],
        tag_links=[],
        comments_open=data.comments_open,
        **_hero(data.hero_image.model_dump() if data.hero_image else None),
    )
    _apply_review(article, author, data.editorial_review, now=now)
    mentioned = await _render(session, article, site_url)
    _link_tickers(article, primary, mentioned)
    _link_tags(article, tags)
    return await repository.add(article)


async def update_article(
    session: AsyncSession, article: Article, *, data: ArticleUpdate, site_url: str, now: datetime
) -> Article:
    changes = changes_of(data)
    before = _state(article)

    author = article.author
    if "author" in changes:
        author = await authors_service.require_author(session, changes["author"], loc=["body", "author"])
        article.author_id, article.author = author.id, author  # type: ignore[assignment]
    for name in ("title", "dek", "body_markdown", "status", "published_at", "comments_open"):
        if name in changes:
            setattr(article, name, changes[name])
    if article.status == "published" and article.published_at is None:
        article.published_at = now
    if "hero_image" in changes:
        for name, value in _hero(changes["hero_image"]).items():
            setattr(article, name, value)
    if "editorial_review" in changes or "author" in changes:
        review = data.editorial_review if "editorial_review" in changes else _kept_review(article)
        _apply_review(article, author, review, now=now)

    if "tickers" in changes:
        primary = await tickers_service.require_symbols(session, changes["tickers"], loc=["body", "tickers"])
    else:
        primary = [link.ticker for link in article.ticker_links if link.role == "primary"]
    if "tags" in changes:
        _link_tags(article, await tags_service.require_tags(session, changes["tags"], loc=["body", "tags"]))
    mentioned = await _render(session, article, site_url)
    _link_tickers(article, primary, mentioned)
    await save_changes(session, article, before=before, after=_state(article), now=now)
    return article


def _state(article: Article) -> tuple[Any, ...]:
    links = [(link.ticker_id, link.role) for link in article.ticker_links]
    return state_of(article, parts=[*links, *(link.tag_id for link in article.tag_links)])


def _kept_review(article: Article) -> EditorialReviewInput | None:
    if article.reviewed_by is None:
        return None
    return EditorialReviewInput(reviewed_by=article.reviewed_by, reviewed_at=article.reviewed_at)


async def delete_article(session: AsyncSession, article: Article, *, now: datetime) -> None:
    """Leaves a tombstone: the row stays, marked deleted, for the changes feed to report."""
    article.deleted_at = now
    article.updated_at = now
    await session.flush()
