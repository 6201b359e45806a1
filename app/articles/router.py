from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AfterValidator

from app.api_keys.dependencies import ContentWriter, OptionalApiKey
from app.api_keys.scopes import Scope
from app.api_keys.service import grants
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import cards, queries, service
from app.articles.feed import feed_page
from app.articles.names import resolve_names
from app.articles.filters import FeedFilters
from app.articles.queries import CardPage
from app.articles.search import MAX_SEARCH_WORDS, SEARCH_CANDIDATES, few_enough_words
from app.articles.schemas import ArticleCard, ArticleCreate, ArticleDetail, ArticleUpdate
from app.caching.http import ITEM, LIST, conclude, http_cache
from app.caching.keys import article_key
from app.caching.request_key import FREE_TEXT, OPEN_ENDED
from app.caching.state import state_from_row
from app.clients import get_client
from app.db import ReadConnection, SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.fields import SLUG_PATTERN, Slug, Symbol, TagSlug, UtcDatetime, line
from app.models import Article
from app.pagination import Page, PageParams
from app.problems import FieldError, InvalidFields, problem_responses
from app.ratelimit import RateLimiter
from app.responses import json_response

router = APIRouter(prefix="/v1/articles", tags=["Articles"])
Clock = Annotated[datetime, Depends(get_clock)]
SearchText = Annotated[line(200, min_length=1), AfterValidator(few_enough_words)]  # type: ignore[misc]
SEARCH_DESCRIPTION = (
    f"Full-text search over title, dek and body: the {SEARCH_CANDIDATES} newest matches, by relevance, "
    f"then newest. At most 200 characters and {MAX_SEARCH_WORDS} words; searches are rate-limited "
    "per client (429 with `Retry-After`)."
)
ArticleSlug = Annotated[str, Path(max_length=120, pattern=SLUG_PATTERN)]
WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)


async def feed_filters(
    request: Request,
    connection: ReadConnection,
    ticker: Annotated[
        list[Symbol], Query(max_length=20, description="Any of these symbols (repeatable).")
    ] = [],  # noqa: B006  (FastAPI copies defaults per request)
    author: Annotated[Slug | None, Query(description="Author slug.")] = None,
    tag: Annotated[TagSlug | None, Query(description="Tag slug.")] = None,
    author_kind: Annotated[Literal["human", "ai_agent"] | None, Query()] = None,
    since: Annotated[UtcDatetime | None, Query(description="Published at or after (RFC 3339)."), OPEN_ENDED] = None,
    until: Annotated[UtcDatetime | None, Query(description="Published before (RFC 3339)."), OPEN_ENDED] = None,
    q: Annotated[SearchText | None, Query(description=SEARCH_DESCRIPTION), FREE_TEXT] = None,  # type: ignore[valid-type]
) -> FeedFilters:
    """The filters as ids, resolved in one query; a 422 naming every unknown name."""
    if q is not None:
        # Searches cost tens of milliseconds and cannot be cached for every query.
        # The client is worked out only then: the plain feed pays nothing for the limit.
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.hit(
            request.app.state.settings.rate_limit_search_per_client, "search:client", get_client(request).rate_limit_key
        )
    names = await resolve_names(
        connection, symbols=ticker, author_slugs=[author] if author else [], tag_slugs=[tag] if tag else []
    )
    errors = [
        FieldError(loc=["query", "ticker", index], msg=f"unknown ticker symbol '{symbol}'")
        for index, symbol in enumerate(ticker)
        if symbol.upper() not in names.tickers
    ]
    if author is not None and author not in names.authors:
        errors.append(FieldError(loc=["query", "author"], msg=f"unknown author '{author}'"))
    if tag is not None and tag not in names.tags:
        errors.append(FieldError(loc=["query", "tag"], msg=f"unknown tag '{tag}'"))
    if errors:
        raise InvalidFields(errors)
    return FeedFilters(
        ticker_ids=tuple(sorted({names.tickers[symbol.upper()] for symbol in ticker})),
        author_id=names.authors.get(author) if author else None,
        tag_id=names.tags.get(tag) if tag else None,
        author_kind=author_kind,
        since=since,
        until=until,
        query=q,
    )


Filters = Annotated[FeedFilters, Depends(feed_filters)]


async def readable_article(
    api_key: OptionalApiKey, connection: ReadConnection, slug: ArticleSlug, now: Clock
) -> CardPage:
    """Published and due for everyone; drafts, scheduled and archived too for editors."""
    editor = api_key is not None and grants(api_key, Scope.CONTENT_WRITE)
    return await service.read_article(connection, slug, now=now, include_unpublished=editor)


async def editable_article(session: SessionDep, slug: ArticleSlug, _writer: ContentWriter) -> Article:
    return await service.get_article_for_edit(session, slug)


async def written_article(request: Request, session: AsyncSession, article: Article, now: datetime) -> dict[str, Any]:
    """The article as a write leaves it, read back through the same query as any read."""
    page = await queries.read_detail(await session.connection(), article.slug, now=now)
    return cards.detail(page.items[0], request.app.state.settings.site_url)


@router.get(
    "",
    dependencies=[http_cache(LIST)],
    summary="List articles",
    response_model=Page[ArticleCard],
    responses=problem_responses(400, 422, 429),
)
async def list_articles(
    request: Request, response: Response, connection: ReadConnection, filters: Filters, page: PageParams, now: Clock
) -> Any:
    """The feed of published articles, newest first; filters combine with AND."""
    return await feed_page(request, response, connection, filters=filters, page=page, now=now)


@router.get(
    "/{slug}",
    dependencies=[http_cache(ITEM)],
    summary="Get an article",
    response_model=ArticleDetail,
    responses=problem_responses(401, 404, 422),
)
async def get_article(
    request: Request, response: Response, page: Annotated[CardPage, Depends(readable_article)], now: Clock
) -> Any:
    """The whole article with its sanitized HTML body. With a `content:write` key, drafts,
    scheduled and archived articles too (editors preview them); without one they are 404."""
    article = page.items[0]
    keys = (*queries.DETAIL_KEYS, article_key(article["id"]))
    # What time alone changes on the page: whether a scheduled article is visible yet.
    conclude(request, response, state_from_row(page.state, keys).with_marker(service.is_public(article, now=now)))
    return json_response(response, cards.detail(article, request.app.state.settings.site_url))


@router.get(
    "/{slug}/related",
    dependencies=[http_cache(LIST)],
    summary="List related articles",
    response_model=Page[ArticleCard],
    responses=problem_responses(401, 404, 422),
)
async def list_related_articles(
    request: Request,
    response: Response,
    connection: ReadConnection,
    article: Annotated[CardPage, Depends(readable_article)],
    now: Clock,
    limit: Annotated[int, Query(ge=1, le=100)] = 5,
) -> Any:
    """Articles sharing tickers (weighted double) or tags, best first, then newest.
    A ranked top list: `next_cursor` is always null. With a `content:write` key, the
    article may be a draft (editors preview it); the related articles are published ones."""
    related = await queries.read_related(connection, article.items[0]["id"], now=now, limit=limit)
    # Ranked, not dated: any article appearing may join it, so the newest anywhere counts.
    conclude(request, response, state_from_row(related.state, queries.RELATED_KEYS))
    site_url = request.app.state.settings.site_url
    return json_response(response, {"items": [cards.card(item, site_url) for item in related.items], "next_cursor": None})


@router.post(
    "",
    summary="Create an article",
    status_code=201,
    response_model=ArticleDetail,
    responses=WRITE_PROBLEMS,
    dependencies=[JSON_BODY],
)
async def create_article(
    request: Request, response: Response, session: SessionDep, _writer: ContentWriter, data: ArticleCreate, now: Clock
) -> Any:
    """Creates an article from Markdown; cashtags of known tickers are linked as `mentioned`."""
    site_url = request.app.state.settings.site_url
    article = await service.create_article(session, data=data, site_url=site_url, now=now)
    response.headers["Location"] = f"/v1/articles/{article.slug}"
    return await written_article(request, session, article, now)


@router.patch(
    "/{slug}",
    summary="Update an article",
    response_model=ArticleDetail,
    responses=WRITE_PROBLEMS,
    dependencies=[JSON_BODY],
)
async def update_article(
    request: Request,
    session: SessionDep,
    article: Annotated[Article, Depends(editable_article)],
    data: ArticleUpdate,
    now: Clock,
) -> Any:
    """Changes the fields sent; `updated_at` moves on every change."""
    site_url = request.app.state.settings.site_url
    updated = await service.update_article(session, article, data=data, site_url=site_url, now=now)
    return await written_article(request, session, updated, now)


@router.delete(
    "/{slug}",
    summary="Delete an article",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def delete_article(
    session: SessionDep, article: Annotated[Article, Depends(editable_article)], now: Clock
) -> None:
    """Removes the article from every feed; a tombstone stays for partners that mirror us."""
    await service.delete_article(session, article, now=now)
