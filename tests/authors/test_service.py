"""Resolving author slugs named by a request, as subscriptions and articles do."""

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.problems import InvalidFields
from app.authors import service as authors_service
from tests.factories import create_author
from tests.helpers import counted_statements

pytestmark = pytest.mark.asyncio


def author_queries(statements: list[str]) -> list[str]:
    return [statement for statement in statements if "FROM author\n" in statement or "FROM author " in statement]


class TestRequireAuthors:
    async def test_reads_every_slug_in_one_query(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        slugs = [(await create_author(session, slug=f"writer-{n}")).slug for n in range(5)]

        with counted_statements(engine) as statements:
            found = await authors_service.require_authors(
                session, [*slugs, slugs[0]], loc=["body", "authors"]
            )

        assert [author.slug for author in found] == slugs
        assert len(author_queries(statements)) == 1

    async def test_names_every_unknown_slug_in_one_query(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        known = (await create_author(session, slug="known")).slug

        with counted_statements(engine) as statements, pytest.raises(InvalidFields) as refused:
            await authors_service.require_authors(
                session, ["nope", known, "gone"], loc=["body", "authors"]
            )

        assert [error.loc for error in refused.value.errors] == [
            ["body", "authors", 0],
            ["body", "authors", 2],
        ]
        assert len(author_queries(statements)) == 1
