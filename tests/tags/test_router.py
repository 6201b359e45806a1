"""/v1/tags: list, get, a tag's articles and creating a tag."""

from datetime import timedelta
from typing import Any

import pytest

from app.api_keys.scopes import Scope
from tests.conftest import bearer
from tests.factories import create_article, create_author, create_tag
from tests.helpers import (
    ANY_ID,
    ANY_TIMESTAMP,
    assert_problem,
    assert_validation_error,
    problem,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def tag_document(**overrides: Any) -> dict[str, Any]:
    return {
        "id": ANY_ID,
        "slug": "earnings",
        "name": "Earnings",
        "description": "Quarterly results.",
        "article_count": 0,
        "created_at": ANY_TIMESTAMP,
        "updated_at": ANY_TIMESTAMP,
    } | overrides


class TestListTags:
    async def test_lists_tags_by_slug_with_counts(self, client, session, clock):
        author = await create_author(session)
        await create_tag(session, "policy", name="Policy", description="")
        await create_tag(session, "earnings", name="Earnings", description="Quarterly results.")
        await create_tag(session, "ai", name="AI", description="")
        await create_article(session, author=author, now=clock.now, tags=["earnings"])
        await create_article(session, author=author, now=clock.now, tags=["earnings", "ai"], status="draft", published_ago=None)

        response = await client.get("/v1/tags")

        assert response.status_code == 200
        assert response.json() == {
            "items": [
                tag_document(slug="ai", name="AI", description=""),
                tag_document(article_count=1),
                tag_document(slug="policy", name="Policy", description=""),
            ],
            "next_cursor": None,
        }

    async def test_pages_with_a_cursor(self, client, session):
        for slug in ("a", "b", "c"):
            await create_tag(session, slug)

        first = await client.get("/v1/tags?limit=2")
        second = await client.get("/v1/tags", params={"limit": 2, "cursor": first.json()["next_cursor"]})

        assert [t["slug"] for t in first.json()["items"] + second.json()["items"]] == ["a", "b", "c"]
        assert second.json()["next_cursor"] is None

    async def test_refuses_a_cursor_from_another_list(self, client, session):
        for slug in ("a", "b"):
            await create_tag(session, slug)
            await create_author(session)
        cursor = (await client.get("/v1/authors?limit=1")).json()["next_cursor"]

        response = await client.get("/v1/tags", params={"cursor": cursor})

        assert_problem(response, problem(400, "invalid-cursor", "The cursor belongs to a different list or filter."))


class TestGetTag:
    async def test_serves_the_tag(self, client, session):
        await create_tag(session, "earnings", description="Quarterly results.")

        response = await client.get("/v1/tags/earnings")

        assert response.json() == tag_document()

    async def test_is_404_for_unknown_slug(self, client):
        assert_problem(await client.get("/v1/tags/nothing"), problem(404, "not-found", "No tag with slug 'nothing'."))

    async def test_refuses_a_malformed_slug(self, client):
        assert_validation_error(await client.get("/v1/tags/" + "a" * 65), ["path", "slug"])


class TestListTagArticles:
    async def test_lists_visible_articles_newest_first(self, client, session, clock):
        author = await create_author(session)
        await create_tag(session, "ai")
        old = await create_article(session, author=author, now=clock.now, tags=["ai"], published_ago=timedelta(days=1))
        new = await create_article(session, author=author, now=clock.now, tags=["ai"], published_ago=timedelta(hours=1))
        scheduled = await create_article(session, author=author, now=clock.now, tags=["ai"], published_ago=-timedelta(hours=1))
        await create_article(session, author=author, now=clock.now)

        response = await client.get("/v1/tags/ai/articles")
        assert [item["slug"] for item in response.json()["items"]] == [new.slug, old.slug]

        clock.now += timedelta(hours=1)
        response = await client.get("/v1/tags/ai/articles")
        assert [item["slug"] for item in response.json()["items"]] == [scheduled.slug, new.slug, old.slug]

    async def test_is_404_for_unknown_tag(self, client):
        assert (await client.get("/v1/tags/nothing/articles")).status_code == 404


class TestCreateTag:
    async def test_creates_a_tag(self, client, writer):
        response = await client.post(
            "/v1/tags", headers=writer,
            json={"slug": "earnings", "name": "Earnings", "description": "Quarterly results."},
        )

        assert response.status_code == 201
        assert response.headers["location"] == "/v1/tags/earnings"
        assert response.json() == tag_document()

    async def test_conflicts_on_a_taken_slug(self, client, session, writer):
        await create_tag(session, "earnings")

        response = await client.post("/v1/tags", headers=writer, json={"slug": "earnings", "name": "Again"})

        assert_problem(response, problem(409, "conflict", "A tag with slug 'earnings' already exists."))

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"slug": "Not A Slug"}, ["body", "slug"]),
            ({"slug": "a" * 65}, ["body", "slug"]),
            ({"name": ""}, ["body", "name"]),
            ({"name": "x" * 65}, ["body", "name"]),
            ({"description": "nul\u0000"}, ["body", "description"]),
            ({"colour": "red"}, ["body", "colour"]),
        ],
    )
    async def test_refuses_invalid_fields(self, client, writer, overrides, loc):
        response = await client.post("/v1/tags", headers=writer, json={"slug": "ai", "name": "AI"} | overrides)

        assert_validation_error(response, loc)

    async def test_needs_a_content_write_key(self, client, session):
        body = {"slug": "ai", "name": "AI"}

        unauthenticated = await client.post("/v1/tags", json=body)
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'
        assert_problem(
            await client.post("/v1/tags", json=body, headers=await bearer(session, Scope.SUBSCRIBERS_READ)),
            problem(403, "forbidden", "This operation needs the `content:write` scope."),
        )
