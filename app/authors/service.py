from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.counts import visible_counts
from app.authors.repository import AuthorRepository
from app.authors.schemas import AuthorCreate, AuthorRead, AuthorUpdate
from app.db import utcnow
from app.keyset import ascending_page
from app.models import Author
from app.problems import Conflict, FieldError, InvalidFields, NotFound
from app.updates import changes_of, save_changes, state_of


async def get_author(session: AsyncSession, slug: str) -> Author:
    author = await AuthorRepository(session).get_by_slug(slug)
    if author is None:
        raise NotFound(f"No author with slug '{slug}'.")
    return author


async def require_authors(
    session: AsyncSession, slugs: Sequence[str], *, loc: list[str | int]
) -> list[Author]:
    """The authors named, in order and without repeats, in one query; a 422 naming every
    unknown slug at its index under `loc`."""
    found = {author.slug: author for author in await AuthorRepository(session).get_by_slugs(slugs)}
    errors = [
        FieldError(loc=[*loc, index], msg=f"unknown author '{slug}'")
        for index, slug in enumerate(slugs)
        if slug not in found
    ]
    if errors:
        raise InvalidFields(errors)
    return list({slug: found[slug] for slug in slugs}.values())


async def require_author(session: AsyncSession, slug: str, *, loc: list[str | int]) -> Author:
    """One author named by a field; a 422 at `loc` when there is none."""
    author = await AuthorRepository(session).get_by_slug(slug)
    if author is None:
        raise InvalidFields.one(loc, f"unknown author '{slug}'")
    return author


async def list_authors(
    session: AsyncSession, *, kind: str | None, after: list[Any] | None, limit: int
) -> list[Author]:
    where = [Author.kind == kind] if kind else []
    return await ascending_page(
        session, Author, key=[Author.name, Author.id], where=where, after=after, limit=limit
    )


async def to_reads(session: AsyncSession, authors: list[Author], *, now: datetime) -> list[AuthorRead]:
    counts = await visible_counts(
        await session.connection(), by="author_id", ids=[author.id for author in authors if author.id], now=now
    )
    return [
        AuthorRead.model_validate(
            {**author.model_dump(), "article_count": counts.get(author.id or 0, (0, None))[0]}
        )
        for author in authors
    ]


def _check_disclosure(kind: str, disclosure: str | None) -> None:
    # An AI persona's box must say what system writes as it (see the contract's author box).
    if kind == "ai_agent" and not disclosure:
        raise InvalidFields.one(["body", "disclosure"], "is required for an AI agent")


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    """URLs and nested models as plain JSON values for the table's columns."""
    ready = dict(values)
    if ready.get("avatar_url") is not None:
        ready["avatar_url"] = str(ready["avatar_url"])
    if ready.get("links") is not None:
        ready["links"] = [{"label": link["label"], "url": str(link["url"])} for link in ready["links"]]
    return ready


async def create_author(session: AsyncSession, *, data: AuthorCreate) -> Author:
    slug = data.slug or slugify(data.name, max_length=120, word_boundary=True)
    if not slug:
        raise InvalidFields.one(["body", "slug"], "cannot be derived from the name; give one")
    _check_disclosure(data.kind, data.disclosure)
    repository = AuthorRepository(session)
    if await repository.get_by_slug(slug) is not None:
        raise Conflict(f"An author with slug '{slug}' already exists.")
    values = _json_ready(data.model_dump(exclude={"slug"}))
    return await repository.add(Author(slug=slug, **values))


async def update_author(session: AsyncSession, author: Author, *, data: AuthorUpdate) -> Author:
    changes = _json_ready(changes_of(data))
    _check_disclosure(changes.get("kind", author.kind), changes.get("disclosure", author.disclosure))
    before = state_of(author)
    for name, value in changes.items():
        setattr(author, name, value)
    await save_changes(session, author, before=before, after=state_of(author), now=utcnow())
    return author


async def delete_author(session: AsyncSession, author: Author) -> None:
    if await AuthorRepository(session).has_articles(author):
        raise Conflict("The author has articles; reassign or delete them first.")
    await AuthorRepository(session).delete(author)
