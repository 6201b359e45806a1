"""`GET /v1`: the API's entry points and feed URLs, so partners need not read code."""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.caching.http import DISCOVERY, http_cache
from app.caching.keys import ALL
from app.links import api_url
from app.problems import problem_responses

router = APIRouter(tags=["Discovery"])

# Paths relative to the API root. `{…}` parts are RFC 6570 level-1 URI templates.
ENTRY_POINTS = {
    "articles": "/v1/articles",
    "article": "/v1/articles/{slug}",
    "related_articles": "/v1/articles/{slug}/related",
    "authors": "/v1/authors",
    "author": "/v1/authors/{slug}",
    "author_articles": "/v1/authors/{slug}/articles",
    "tickers": "/v1/tickers",
    "ticker": "/v1/tickers/{symbol}",
    "ticker_articles": "/v1/tickers/{symbol}/articles",
    "tags": "/v1/tags",
    "tag": "/v1/tags/{slug}",
    "tag_articles": "/v1/tags/{slug}/articles",
}
FEEDS = {
    "articles": "/feeds/articles",
    "ticker": "/feeds/tickers/{symbol}",
    "author": "/feeds/authors/{slug}",
    "tag": "/feeds/tags/{slug}",
}
FEED_FORMATS = ("rss", "atom", "json")
DOCUMENTATION = {
    "openapi": "/openapi.json",
    "docs": "/docs",
    "health": "/healthz",
    "ready": "/readyz",
}


class FeedLinks(BaseModel):
    rss: str
    atom: str
    json_feed: str = Field(alias="json", serialization_alias="json")


class Discovery(BaseModel):
    name: str
    version: str
    description: str
    links: dict[str, str] = Field(description="Absolute URLs and URI templates of the JSON API.")
    feeds: dict[str, FeedLinks] = Field(
        description="RSS 2.0, Atom 1.0 and JSON Feed 1.1 of each feed. Add `?key=` with a "
        "`feeds:full` partner key for full text."
    )
    documentation: dict[str, str]


@router.get(
    "/v1",
    summary="Discover the API",
    response_model=Discovery,
    response_model_by_alias=True,
    responses=problem_responses(401),
    dependencies=[http_cache(DISCOVERY, depends_on=(ALL,))],
)
async def discover_api(request: Request) -> Discovery:
    """Every entry point and feed URL, absolute, for clients and partners to start from."""
    root = api_url(request, "")
    feeds = {
        name: FeedLinks.model_validate({fmt: f"{root}{path}.{fmt}" for fmt in FEED_FORMATS})
        for name, path in FEEDS.items()
    }
    return Discovery(
        name=request.app.title,
        version=request.app.version,
        description=request.app.summary or "",
        links={"self": f"{root}/v1"} | {name: root + path for name, path in ENTRY_POINTS.items()},
        feeds=feeds,
        documentation={name: root + path for name, path in DOCUMENTATION.items()},
    )
