from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api_keys.dependencies import Admin
from app.db import ReadConnection, SessionDep
from app.dependencies import JSON_BODY, get_clock
from app.fields import SLUG_PATTERN
from app.models import Newsletter
from app.newsletters import service
from app.newsletters.schemas import Edition, NewsletterCreate, NewsletterRead
from app.pagination import Page, PageParams, filter_scope, keyset_page, parse_int, parse_str
from app.problems import InvalidFields, problem_responses
from app.responses import json_response
from app.articles.cards import card
from app.articles.feed import dated_state
from app.articles.queries import read_feed
from app.caching.http import ITEM, LIST, conclude, http_cache
from app.caching.keys import ALL
from app.caching.request_key import OPEN_ENDED

router = APIRouter(prefix="/v1/newsletters", tags=["Newsletters"])
NEWSLETTER_KEYS = (ALL,)
Clock = Annotated[datetime, Depends(get_clock)]
NewsletterSlug = Annotated[str, Path(max_length=120, pattern=SLUG_PATTERN)]
# A strict shape: pydantic's lax `date` would also take Unix timestamps.
# Every calendar day has an edition (most of them empty): open-ended for the shared cache.
EditionDate = Annotated[
    str,
    Path(
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="YYYY-MM-DD, local to the newsletter.",
        json_schema_extra={"format": "date"},
        examples=["2026-11-28"],
    ),
    OPEN_ENDED,
]


async def newsletter_by_slug(session: SessionDep, slug: NewsletterSlug) -> Newsletter:
    return await service.get_newsletter(session, slug)


NewsletterBySlug = Annotated[Newsletter, Depends(newsletter_by_slug)]


def _read(newsletter: Newsletter) -> NewsletterRead:
    return NewsletterRead.model_validate(newsletter, from_attributes=True)


@router.get(
    "",
    summary="List newsletters",
    response_model=Page[NewsletterRead],
    responses=problem_responses(400, 422),
    dependencies=[http_cache(LIST, depends_on=NEWSLETTER_KEYS)],
)
async def list_newsletters(
    request: Request, response: Response, session: SessionDep, page: PageParams
) -> Page[NewsletterRead]:
    """Every newsletter a reader can subscribe to, by slug."""
    newsletters, next_cursor = await keyset_page(
        request,
        response,
        page,
        scope=filter_scope("newsletters"),
        parsers=(parse_str, parse_int),
        fetch=lambda after, limit: service.list_newsletters(session, after=after, limit=limit),
        key_of=lambda newsletter: [newsletter.slug, newsletter.id],
    )
    return Page[NewsletterRead](
        items=[_read(item) for item in newsletters], next_cursor=next_cursor
    )


@router.get(
    "/{slug}",
    summary="Get a newsletter",
    response_model=NewsletterRead,
    responses=problem_responses(404, 422),
    dependencies=[http_cache(ITEM, depends_on=NEWSLETTER_KEYS)],
)
async def get_newsletter(newsletter: NewsletterBySlug) -> NewsletterRead:
    """One newsletter: name, description, time zone and local send hour."""
    return _read(newsletter)


@router.post(
    "",
    summary="Create a newsletter",
    status_code=201,
    response_model=NewsletterRead,
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
    dependencies=[JSON_BODY],
)
async def create_newsletter(
    response: Response, session: SessionDep, _admin: Admin, data: NewsletterCreate, now: Clock
) -> NewsletterRead:
    """Adds a newsletter readers can subscribe to (scope `admin`)."""
    newsletter = await service.create_newsletter(session, data=data, now=now)
    response.headers["Location"] = f"/v1/newsletters/{newsletter.slug}"
    return _read(newsletter)


@router.get(
    "/{slug}/editions/{day}",
    summary="Get an edition",
    response_model=Edition,
    responses=problem_responses(404, 422),
    dependencies=[http_cache(LIST)],
)
async def get_edition(
    request: Request,
    response: Response,
    connection: ReadConnection,
    newsletter: NewsletterBySlug,
    day: EditionDate,
    now: Clock,
) -> Any:
    """The day's headlines: cards of articles published that day in the newsletter's time zone, newest first."""
    try:
        edition_day = date.fromisoformat(day)
    except ValueError as exc:
        raise InvalidFields.one(["path", "day"], "is not a calendar date") from exc
    service.require_edition_day(newsletter, edition_day, loc=["path", "day"])
    settings = request.app.state.settings
    filters = service.edition_filters(newsletter, edition_day)
    page = await read_feed(connection, filters, now=now, limit=settings.edition_max_articles)
    conclude(request, response, dated_state(page, filters.keys()))
    return json_response(response, {
        "newsletter": {"slug": newsletter.slug, "name": newsletter.name},
        "date": edition_day,
        "time_zone": newsletter.time_zone,
        "articles": [card(item, settings.site_url) for item in page.items],
    })
