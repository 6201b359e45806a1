"""`/feeds/...`: the same items as RSS 2.0, Atom 1.0 or JSON Feed 1.1, chosen by suffix."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from app.articles.filters import FeedFilters
from app.articles.feed import answer_if_unchanged, dated_state
from app.caching.http import FEED, Audience, conclude, http_cache
from app.db import ReadConnection
from app.dependencies import get_clock
from app.feeds import atom, jsonfeed, rss, service
from app.feeds.dependencies import FULL_TEXT, feed_audience
from app.feeds.document import FeedSubject, build_document
from app.fields import SLUG_PATTERN, SymbolPath
from app.links import requested_url
from app.openapi import schema_ref
from app.problems import problem_responses

router = APIRouter(prefix="/feeds", tags=["Feeds"])
Clock = Annotated[datetime, Depends(get_clock)]
Reader = Annotated[Audience, Depends(feed_audience)]
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
            "content": {
                rss.MEDIA_TYPE.split(";")[0]: {"schema": schema_ref("RssFeed")},
                atom.MEDIA_TYPE.split(";")[0]: {"schema": schema_ref("AtomFeed")},
                jsonfeed.MEDIA_TYPE: {"schema": schema_ref("JsonFeed")},
            },
        },
        **problem_responses(401, 403, 404, 422),
    },
}


@dataclass(frozen=True)
class FeedRequest:
    """What every feed route needs besides its subject: the format, the reader and "now"."""

    request: Request
    response: Response
    connection: AsyncConnection
    fmt: FeedFormat
    reader: Audience
    now: datetime

    @property
    def site_url(self) -> str:
        return str(self.request.app.state.settings.site_url)

    async def render(self, subject: FeedSubject, filters: FeedFilters) -> Response:
        full = self.reader == FULL_TEXT
        await answer_if_unchanged(self.request, self.connection, filters, now=self.now)
        page = await service.newest(self.connection, filters, now=self.now, full_text=full)
        conclude(self.request, self.response, dated_state(page, filters.keys()))
        document = build_document(
            subject,
            page.items,
            site_url=self.site_url,
            # The self link names the feed, never the partner's key.
            self_url=str(requested_url(self.request).remove_query_params("key")),
            full=full,
        )
        render, media_type = RENDERERS[self.fmt]
        # A returned Response does not pick up headers set on `response`; the caching
        # dependency put the validators there, so carry them over.
        return Response(render(document), media_type=media_type, headers=dict(self.response.headers))


async def feed_request(
    request: Request, response: Response, reader: Reader, connection: ReadConnection, fmt: FeedFormat, now: Clock
) -> FeedRequest:
    return FeedRequest(request, response, connection, fmt, reader, now)


Feed = Annotated[FeedRequest, Depends(feed_request)]


@router.get("/articles.{fmt}", summary="Get the articles feed", **FEED_ROUTE)
async def get_articles_feed(feed: Feed) -> Response:
    """The newest 50 published articles. Summaries; full text with a `feeds:full` key."""
    return await feed.render(*service.site_subject(feed.site_url))


# `path`: a symbol may hold a slash (BRK/B), sent as %2F and decoded before routing.
@router.get("/tickers/{symbol:path}.{fmt}", summary="Get a ticker's feed", **FEED_ROUTE)
async def get_ticker_feed(feed: Feed, symbol: SymbolPath) -> Response:
    """The newest 50 articles on a ticker (found by symbol or alias, any case). Summaries; full text with a `feeds:full` key."""
    return await feed.render(*await service.ticker_subject(feed.connection, symbol, feed.site_url))


@router.get("/authors/{slug}.{fmt}", summary="Get an author's feed", **FEED_ROUTE)
async def get_author_feed(feed: Feed, slug: SlugPath) -> Response:
    """The newest 50 articles by a journalist or an AI writing agent. Summaries; full text with a `feeds:full` key."""
    return await feed.render(*await service.author_subject(feed.connection, slug, feed.site_url))


@router.get("/tags/{slug}.{fmt}", summary="Get a tag's feed", **FEED_ROUTE)
async def get_tag_feed(feed: Feed, slug: SlugPath) -> Response:
    """The newest 50 articles on a topic. Summaries; full text with a `feeds:full` key."""
    return await feed.render(*await service.tag_subject(feed.connection, slug, feed.site_url))
