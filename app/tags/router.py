from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api_keys.dependencies import ContentWriter
from app.articles.feed import feed_page, subfeed_filters
from app.articles.schemas import ArticleCard
from app.caching.http import ITEM, LIST, http_cache
from app.caching.keys import CATALOGUE_KEYS
from app.db import ReadConnection, SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.fields import SLUG_PATTERN
from app.models import Tag
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int, parse_str
from app.problems import problem_responses
from app.tags import service
from app.tags.schemas import TagCreate, TagRead

router = APIRouter(prefix="/v1/tags", tags=["Tags"])
Clock = Annotated[datetime, Depends(get_clock)]
TagSlugPath = Annotated[str, Path(max_length=64, pattern=SLUG_PATTERN)]


async def tag_by_slug(session: SessionDep, slug: TagSlugPath) -> Tag:
    return await service.get_tag(session, slug)


TagBySlug = Annotated[Tag, Depends(tag_by_slug)]


@router.get(
    "", summary="List tags", response_model=Page[TagRead], responses=problem_responses(400, 422),
    dependencies=[http_cache(LIST, depends_on=CATALOGUE_KEYS)],
)
async def list_tags(
    request: Request, response: Response, session: SessionDep, page: PageParams, now: Clock
) -> Page[TagRead]:
    """Topics such as AI, Earnings and Policy, by slug."""
    tags, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=filter_scope("tags"),
        parsers=(parse_str, parse_int),
        fetch=lambda after, limit: service.list_tags(session, after=after, limit=limit),
        key_of=lambda tag: [tag.slug, tag.id],
    )
    return Page[TagRead](items=await service.to_reads(session, tags, now=now), next_cursor=next_cursor)


@router.get(
    "/{slug}", summary="Get a tag", response_model=TagRead, responses=problem_responses(404, 422),
    dependencies=[http_cache(ITEM, depends_on=CATALOGUE_KEYS)],
)
async def get_tag(session: SessionDep, tag: TagBySlug, now: Clock) -> TagRead:
    """One topic."""
    return (await service.to_reads(session, [tag], now=now))[0]


@router.get(
    "/{slug}/articles",
    dependencies=[http_cache(LIST)],
    summary="List a tag's articles",
    response_model=Page[ArticleCard],
    responses=problem_responses(400, 404, 422),
)
async def list_tag_articles(
    request: Request, response: Response, connection: ReadConnection, slug: TagSlugPath, page: PageParams, now: Clock
) -> Any:
    """Articles on this topic, newest first."""
    filters = await subfeed_filters(connection, tag=slug)
    return await feed_page(request, response, connection, filters=filters, page=page, now=now)


@router.post(
    "",
    summary="Create a tag",
    status_code=201,
    response_model=TagRead,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
    dependencies=[JSON_BODY],
)
async def create_tag(
    response: Response, session: SessionDep, _writer: ContentWriter, data: TagCreate, now: Clock
) -> TagRead:
    """Adds a topic that articles can then be tagged with."""
    tag = await service.create_tag(session, data=data)
    response.headers["Location"] = f"/v1/tags/{tag.slug}"
    return (await service.to_reads(session, [tag], now=now))[0]
