"""Newsletters and their daily editions."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.cards import card
from app.articles.filters import FeedFilters
from app.articles.queries import read_feed
from app.keyset import ascending_page
from app.models import Newsletter
from app.newsletters.repository import NewsletterRepository
from app.newsletters.schemas import NewsletterCreate
from app.problems import Conflict, InvalidFields, NotFound


async def get_newsletter(session: AsyncSession, slug: str) -> Newsletter:
    newsletter = await NewsletterRepository(session).get_by_slug(slug)
    if newsletter is None:
        raise NotFound(f"No newsletter with slug '{slug}'.")
    return newsletter


async def list_newsletters(
    session: AsyncSession, *, after: list[Any] | None, limit: int
) -> list[Newsletter]:
    return await ascending_page(
        session, Newsletter, key=[Newsletter.slug, Newsletter.id], after=after, limit=limit
    )


async def require_newsletters(
    session: AsyncSession, slugs: Sequence[str], *, loc: list[str | int]
) -> list[Newsletter]:
    """The newsletters named, without repeats; a 422 naming every unknown slug."""
    found = await NewsletterRepository(session).get_many_by_slug(slugs)
    unknown = [index for index, slug in enumerate(slugs) if slug not in found]
    if unknown:
        raise InvalidFields(
            [
                InvalidFields.one([*loc, index], f"unknown newsletter '{slugs[index]}'").errors[0]
                for index in unknown
            ]
        )
    return list({slug: found[slug] for slug in slugs}.values())


async def create_newsletter(
    session: AsyncSession, *, data: NewsletterCreate, now: datetime
) -> Newsletter:
    repository = NewsletterRepository(session)
    if await repository.get_by_slug(data.slug) is not None:
        raise Conflict(f"A newsletter with slug '{data.slug}' already exists.")
    return await repository.add(Newsletter(**data.model_dump(), created_at=now, updated_at=now))


def edition_window(newsletter: Newsletter, day: date) -> tuple[datetime, datetime]:
    """Local midnight to local midnight, so a 23- or 25-hour DST day is still one edition.

    Raises `DayOutOfRange` for a day whose window leaves the calendar (9999-12-31 has no
    next midnight; 0001-01-01 east of UTC starts before year 1 in UTC).
    """
    zone = ZoneInfo(newsletter.time_zone)
    try:
        start = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
        start.astimezone(UTC), end.astimezone(UTC)  # the database compares in UTC
    except (OverflowError, ValueError) as exc:
        raise DayOutOfRange(day) from exc
    return start, end


class DayOutOfRange(ValueError):
    """A day whose edition window cannot be computed."""


def require_edition_day(newsletter: Newsletter, day: date, *, loc: list[str | int]) -> date:
    """The day, or a 422 at `loc` when its edition window is outside the calendar."""
    try:
        edition_window(newsletter, day)
    except DayOutOfRange as exc:
        raise InvalidFields.one(
            loc, f"is outside the range of editions in the time zone {newsletter.time_zone}"
        ) from exc
    return day


def local_today(newsletter: Newsletter, now: datetime) -> date:
    return now.astimezone(ZoneInfo(newsletter.time_zone)).date()


def edition_filters(newsletter: Newsletter, day: date) -> FeedFilters:
    since, until = edition_window(newsletter, day)
    return FeedFilters(since=since, until=until)


async def edition_cards(
    connection: AsyncConnection, newsletter: Newsletter, day: date, *, now: datetime, limit: int, site_url: str
) -> list[dict[str, Any]]:
    """The day's published articles as cards, newest first; later ones appear once they are due."""
    page = await read_feed(connection, edition_filters(newsletter, day), now=now, limit=limit)
    return [card(item, site_url) for item in page.items]
