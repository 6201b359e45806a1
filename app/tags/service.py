from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.counts import visible_counts
from app.keyset import ascending_page
from app.models import Tag
from app.problems import Conflict, InvalidFields, NotFound
from app.tags.repository import TagRepository
from app.tags.schemas import TagCreate, TagRead


async def find_tags(session: AsyncSession, slugs: list[str]) -> dict[str, Tag]:
    if not slugs:
        return {}
    return {tag.slug: tag for tag in await TagRepository(session).get_by_slugs(slugs)}


async def get_tag(session: AsyncSession, slug: str) -> Tag:
    found = await find_tags(session, [slug])
    if slug not in found:
        raise NotFound(f"No tag with slug '{slug}'.")
    return found[slug]


async def require_tags(session: AsyncSession, slugs: list[str], *, loc: list[str | int]) -> list[Tag]:
    """The tags named, in order and without repeats; a 422 naming every unknown slug."""
    found = await find_tags(session, slugs)
    unknown = [index for index, slug in enumerate(slugs) if slug not in found]
    if unknown:
        raise InvalidFields(
            [InvalidFields.one([*loc, i], f"unknown tag '{slugs[i]}'").errors[0] for i in unknown]
        )
    return list({slug: found[slug] for slug in slugs}.values())


async def require_tag(session: AsyncSession, slug: str, *, loc: list[str | int]) -> Tag:
    """One tag named by a field; a 422 at `loc` when there is none."""
    found = (await find_tags(session, [slug])).get(slug)
    if found is None:
        raise InvalidFields.one(loc, f"unknown tag '{slug}'")
    return found


async def list_tags(session: AsyncSession, *, after: list[Any] | None, limit: int) -> list[Tag]:
    return await ascending_page(session, Tag, key=[Tag.slug, Tag.id], after=after, limit=limit)


async def to_reads(session: AsyncSession, tags: list[Tag], *, now: datetime) -> list[TagRead]:
    counts = await visible_counts(
        await session.connection(), by="tag_id", ids=[tag.id for tag in tags if tag.id], now=now
    )
    return [
        TagRead.model_validate(tag.model_dump() | {"article_count": counts.get(tag.id or 0, (0, None))[0]})
        for tag in tags
    ]


async def create_tag(session: AsyncSession, *, data: TagCreate) -> Tag:
    if await find_tags(session, [data.slug]):
        raise Conflict(f"A tag with slug '{data.slug}' already exists.")
    return await TagRepository(session).add(Tag(**data.model_dump()))
