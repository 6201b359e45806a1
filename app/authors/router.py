from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app.api_keys.dependencies import ContentWriter
from app.articles.feed import feed_page, subfeed_filters
from app.articles.schemas import ArticleCard
from app.authors import service
from app.authors.schemas import AuthorCreate, AuthorRead, AuthorUpdate
from app.caching.http import ITEM, LIST, http_cache
from app.caching.keys import CATALOGUE_KEYS
from app.db import ReadConnection, SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.fields import SLUG_PATTERN
from app.models import Author
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int, parse_str
from app.problems import problem_responses

router = APIRouter(prefix="/v1/authors", tags=["Authors"])
Clock = Annotated[datetime, Depends(get_clock)]
AuthorSlug = Annotated[str, Path(max_length=120, pattern=SLUG_PATTERN)]
WRITE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)


async def author_by_slug(session: SessionDep, slug: AuthorSlug) -> Author:
    return await service.get_author(session, slug)


AuthorBySlug = Annotated[Author, Depends(author_by_slug)]


@router.get(
    "", summary="List authors", response_model=Page[AuthorRead], responses=problem_responses(400, 422),
    dependencies=[http_cache(LIST, depends_on=CATALOGUE_KEYS)],
)
async def list_authors(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageParams,
    now: Clock,
    kind: Annotated[Literal["human", "ai_agent"] | None, Query()] = None,
) -> Page[AuthorRead]:
    """Journalists and AI writing agents, by name."""
    authors, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=filter_scope("authors", kind=kind),
        parsers=(parse_str, parse_int),
        fetch=lambda after, limit: service.list_authors(session, kind=kind, after=after, limit=limit),
        key_of=lambda author: [author.name, author.id],
    )
    return Page[AuthorRead](items=await service.to_reads(session, authors, now=now), next_cursor=next_cursor)


@router.get(
    "/{slug}", summary="Get an author", response_model=AuthorRead, responses=problem_responses(404, 422),
    dependencies=[http_cache(ITEM, depends_on=CATALOGUE_KEYS)],
)
async def get_author(session: SessionDep, author: AuthorBySlug, now: Clock) -> AuthorRead:
    """An author's box: bio, expertise, audience and, for AI agents, the disclosure."""
    return (await service.to_reads(session, [author], now=now))[0]


@router.get(
    "/{slug}/articles",
    dependencies=[http_cache(LIST)],
    summary="List an author's articles",
    response_model=Page[ArticleCard],
    responses=problem_responses(400, 404, 422),
)
async def list_author_articles(
    request: Request, response: Response, connection: ReadConnection, slug: AuthorSlug, page: PageParams, now: Clock
) -> Any:
    """More from this author, newest first."""
    filters = await subfeed_filters(connection, author=slug)
    return await feed_page(request, response, connection, filters=filters, page=page, now=now)


@router.post(
    "", summary="Create an author", status_code=201, response_model=AuthorRead,
    responses=WRITE_PROBLEMS, dependencies=[JSON_BODY],
)
async def create_author(
    response: Response, session: SessionDep, _writer: ContentWriter, data: AuthorCreate, now: Clock
) -> AuthorRead:
    """Adds a journalist or an AI writing agent (agents need a `disclosure`)."""
    author = await service.create_author(session, data=data)
    response.headers["Location"] = f"/v1/authors/{author.slug}"
    return (await service.to_reads(session, [author], now=now))[0]


@router.patch(
    "/{slug}", summary="Update an author", response_model=AuthorRead,
    responses=WRITE_PROBLEMS, dependencies=[JSON_BODY],
)
async def update_author(
    session: SessionDep, _writer: ContentWriter, author: AuthorBySlug, data: AuthorUpdate, now: Clock
) -> AuthorRead:
    """Changes the fields sent."""
    updated = await service.update_author(session, author, data=data)
    return (await service.to_reads(session, [updated], now=now))[0]


@router.delete("/{slug}", summary="Delete an author", status_code=204, responses=problem_responses(401, 403, 404, 409, 422, 503))
async def delete_author(session: SessionDep, _writer: ContentWriter, author: AuthorBySlug) -> None:
    """Deletes an author who has no articles; one with articles is a 409."""
    await service.delete_author(session, author)
