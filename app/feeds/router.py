"""`/feeds/...`: the same items as RSS 2.0, Atom 1.0 or JSON Feed 1.1, chosen by suffix."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.repository import FeedFilters
from app.caching.http import FEED, Audience, http_cache
from app.db import SessionDep
from app.dependencies import get_clock
from app.feeds import atom, jsonfeed, rss, service
from app.feeds.dependencies import FULL_TEXT, feed_audience
from app.feeds.document import FeedSubject, build_document
from app.fields import SLUG_PATTERN, SYMBOL_PATTERN
from app.problems import problem_responses

router = APIRouter(prefix="/feeds", tags=["Feeds"])
Clock = Annotated[datetime, Depends(get_clock)]
Reader = Annotated[Audience, Depends(feed_audience)]
SymbolPath = Annotated[
    str, Path(max_length=16, pattern=SYMBOL_PATTERN, description="Symbol or alias, any case.")
]
SlugPath = Annotated[str, Path(max_length=120, pattern=SLUG_PATTERN)]


class FeedFormat(StrEnum):
    RSS = "rss"
    ATOM = "atom"
    JSON = "json"


RENDERERS = {
    FeedFormat.RSS: (rss.render_rss, rss.MEDIA_TYPE),
    FeedFormat.ATOM: (atom.render_atom, atom.MEDIA_TYPE),
    FeedFormat.JSON: (jsonfeed.render_json, jsonfeed.MEDIA_TYPE),
}
FEED_ROUTE: dict[str, Any] = {
    "response_class": Response,
    "dependencies": [http_cache(FEED, feed_audience)],
    "responses": {
        200: {
            "description": "The feed; full text with a `feeds:full` key, summaries without.",
            "content": {media_type.split(";")[0]: {} for _, media_type in RENDERERS.values()},
        },
        304: {"description": "Not modified since the validators sent."},
        **problem_responses(401, 403, 404, 422),
    },
}


async def render_feed(
    request: Request,
    response: Response,
    session: AsyncSession,
    *,
    subject: FeedSubject,
    filters: FeedFilters,
    fmt: FeedFormat,
    reader: Audience,
    now: datetime,
) -> Response:
    articles = await service.newest_articles(session, filters, now=now)
    document = build_document(
        subject,
        articles,
        site_url=request.app.state.settings.site_url,
        # The self link names the feed, never the partner's key.
        self_url=str(request.url.remove_query_params("key")),
        full=reader == FULL_TEXT,
    )
    render, media_type = RENDERERS[fmt]
    # A returned Response does not pick up headers set on `response`; the caching
    # dependency put the validators there, so carry them over.
    return Response(render(document), media_type=media_type, headers=dict(response.headers))


@router.get("/articles.{fmt}", summary="Get the articles feed", **FEED_ROUTE)
async def get_articles_feed(
    request: Request,
    response: Response,
    session: SessionDep,
    fmt: FeedFormat,
    reader: Reader,
    now: Clock,
) -> Response:
    """The newest 50 published articles."""
    subject, filters = service.site_subject(request.app.state.settings.site_url)
    return await render_feed(
        request,
        response,
        session,
        subject=subject,
        filters=filters,
        fmt=fmt,
        reader=reader,
        now=now,
    )


@router.get("/tickers/{symbol}.{fmt}", summary="Get a ticker's feed", **FEED_ROUTE)
async def get_ticker_feed(
    request: Request,
    response: Response,
    session: SessionDep,
    symbol: SymbolPath,
    fmt: FeedFormat,
    reader: Reader,
    now: Clock,
) -> Response:
    """The newest 50 articles on a ticker (found by symbol or alias, any case)."""
    site_url = request.app.state.settings.site_url
    subject, filters = await service.ticker_subject(session, symbol, site_url)
    return await render_feed(
        request,
        response,
        session,
        subject=subject,
        filters=filters,
        fmt=fmt,
        reader=reader,
        now=now,
    )


@router.get("/authors/{slug}.{fmt}", summary="Get an author's feed", **FEED_ROUTE)
async def get_author_feed(
    request: Request,
    response: Response,
    session: SessionDep,
    slug: SlugPath,
    fmt: FeedFormat,
    reader: Reader,
    now: Clock,
) -> Response:
    """The newest 50 articles by a journalist or an AI writing agent."""
    site_url = request.app.state.settings.site_url
    subject, filters = await service.author_subject(session, slug, site_url)
    return await render_feed(
        request,
        response,
        session,
        subject=subject,
        filters=filters,
        fmt=fmt,
        reader=reader,
        now=now,
    )


@router.get("/tags/{slug}.{fmt}", summary="Get a tag's feed", **FEED_ROUTE)
async def get_tag_feed(
    request: Request,
    response: Response,
    session: SessionDep,
    slug: SlugPath,
    fmt: FeedFormat,
    reader: Reader,
    now: Clock,
) -> Response:
    """The newest 50 articles on a topic."""
    site_url = request.app.state.settings.site_url
    subject, filters = await service.tag_subject(session, slug, site_url)
    return await render_feed(
        request,
        response,
        session,
        subject=subject,
        filters=filters,
        fmt=fmt,
        reader=reader,
        now=now,
    )
