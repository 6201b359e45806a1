"""Resolving author slugs named by a request, as subscriptions and articles do."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.problems import InvalidFields
from app.authors import service as authors_service
from tests.factories import create_author

pytestmark = pytest.mark.asyncio


@contextmanager
def author_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM author\n" in statement or "FROM author " in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


class TestRequireAuthors:
    async def test_reads_every_slug_in_one_query(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        slugs = [(await create_author(session, slug=f"writer-{n}")).slug for n in range(5)]

        with author_queries(engine) as queries:
            found = await authors_service.require_authors(
                session, [*slugs, slugs[0]], loc=["body", "authors"]
            )

        assert [author.slug for author in found] == slugs
        assert len(queries) == 1

    async def test_names_every_unknown_slug_in_one_query(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        known = (await create_author(session, slug="known")).slug

        with author_queries(engine) as queries, pytest.raises(InvalidFields) as refused:
            await authors_service.require_authors(
                session, ["nope", known, "gone"], loc=["body", "authors"]
            )

        assert [error.loc for error in refused.value.errors] == [
            ["body", "authors", 0],
            ["body", "authors", 2],
        ]
        assert len(queries) == 1
