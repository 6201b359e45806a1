"""Conditional GET: validators from stored data, early 304s, Cache-Control and Vary."""

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.caching import state as content_state
from app.caching.http import NO_STORE
from app.main import ROUTERS, create_app
from app.models import ContentKey
from tests import factories
from tests.helpers import counted_statements
from tests.conftest import Clock, like

pytestmark = pytest.mark.asyncio

LIST_CACHE = "public, max-age=30, stale-while-revalidate=300"


@pytest_asyncio.fixture
async def article(session: AsyncSession, clock: Clock) -> Any:
    ticker = await factories.create_ticker(session, "NVDA")
    author = await factories.create_author(session)
    return await factories.create_article(
        session, author=author, now=clock.now, tickers=[ticker.symbol]
    )


def cached_paths(article: Any) -> list[str]:
    return [
        "/v1/articles",
        f"/v1/articles/{article.slug}",
        f"/v1/articles/{article.slug}/related",
        "/v1/authors",
        f"/v1/authors/{article.author.slug}",
        f"/v1/authors/{article.author.slug}/articles",
        "/v1/tickers",
        "/v1/tickers/NVDA",
        "/v1/tickers/NVDA/articles",
        "/v1/tags",
        "/feeds/articles.rss",
        "/feeds/tickers/NVDA.atom",
        f"/feeds/authors/{article.author.slug}.json",
        "/v1",
    ]


async def revalidate(
    client: httpx.AsyncClient, path: str, response: httpx.Response
) -> httpx.Response:
    return await client.get(path, headers={"If-None-Match": response.headers["etag"]})


class TestRoundTrips:
    async def test_every_cached_get_answers_304_to_its_own_etag(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        for path in cached_paths(article):
            first = await client.get(path)
            assert first.status_code == 200, path
            assert first.headers["etag"].startswith('W/"'), path
            assert "Authorization" in first.headers["vary"], path
            again = await revalidate(client, path, first)
            assert again.status_code == 304, path
            assert again.content == b""
            for header in ("etag", "cache-control", "last-modified", "vary"):
                assert again.headers[header] == first.headers[header], (path, header)

    async def test_cache_control_per_resource(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        assert (await client.get("/v1/articles")).headers["cache-control"] == LIST_CACHE
        assert (await client.get("/feeds/articles.rss")).headers["cache-control"] == LIST_CACHE
        detail = await client.get(f"/v1/articles/{article.slug}")
        assert detail.headers["cache-control"] == "public, max-age=120, stale-while-revalidate=600"
        assert (await client.get("/healthz")).headers["cache-control"] == "no-store"

    async def test_etags_differ_between_representations(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        paths = [
            "/v1/articles",
            "/v1/articles?limit=5",
            "/feeds/articles.rss",
            "/feeds/articles.atom",
        ]
        etags = {(await client.get(path)).headers["etag"] for path in paths}
        assert len(etags) == len(paths)

    async def test_neither_links_nor_etag_follow_the_host_header(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as other:
            elsewhere = await other.get("/v1")
        here = await client.get("/v1")
        assert elsewhere.json() == here.json()
        assert elsewhere.headers["etag"] == here.headers["etag"]

    async def test_a_list_of_etags_and_a_stale_one(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        etag = (await client.get("/v1/articles")).headers["etag"]
        listed = await client.get("/v1/articles", headers={"If-None-Match": f'W/"stale", {etag}'})
        assert listed.status_code == 304
        stale = await client.get("/v1/articles", headers={"If-None-Match": 'W/"stale"'})
        assert stale.status_code == 200 and stale.json()["items"]

    async def test_star_does_not_skip_validation(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/articles?limit=1000", headers={"If-None-Match": "*"})
        assert response.status_code == 422


class TestInvalidation:
    async def test_an_edit_changes_the_etag(
        self, client: httpx.AsyncClient, article: Any, writer: dict[str, str]
    ) -> None:
        paths = ["/v1/articles", f"/v1/articles/{article.slug}", "/feeds/articles.rss"]
        before = {path: await client.get(path) for path in paths}
        edited = await client.patch(
            f"/v1/articles/{article.slug}", json={"dek": "New dek"}, headers=writer
        )
        assert edited.status_code == 200
        for path, response in before.items():
            after = await revalidate(client, path, response)
            assert after.status_code == 200, path
            assert after.headers["etag"] != response.headers["etag"]
            assert "New dek" in after.text

    async def test_an_edit_keeps_the_validators_of_what_it_did_not_change(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock, article: Any, writer: dict[str, str]
    ) -> None:
        await factories.create_ticker(session, "AMD")
        other = await factories.create_article(
            session, author=await factories.create_author(session), now=clock.now, tickers=["AMD"]
        )
        kept = [f"/v1/articles/{other.slug}", "/v1/tickers/AMD/articles", "/feeds/tickers/AMD.json",
                f"/v1/authors/{other.author.slug}/articles", "/v1/authors", "/v1/tickers/NVDA", "/v1/tags"]
        changed = ["/v1/articles", f"/v1/articles/{article.slug}", "/v1/tickers/NVDA/articles",
                   f"/v1/authors/{article.author.slug}/articles", "/feeds/articles.rss"]
        before = {path: await client.get(path) for path in kept + changed}

        edited = await client.patch(f"/v1/articles/{article.slug}", json={"title": "Retitled"}, headers=writer)
        assert edited.status_code == 200

        for path in kept:
            assert (await revalidate(client, path, before[path])).status_code == 304, path
        for path in changed:
            after = await revalidate(client, path, before[path])
            assert after.status_code == 200 and "Retitled" in after.text, path

    async def test_a_publish_changes_the_counts_but_not_other_tickers_lists(
        self, client: httpx.AsyncClient, session: AsyncSession, article: Any, writer: dict[str, str]
    ) -> None:
        await factories.create_ticker(session, "AMD")
        paths = ["/v1/tickers/AMD/articles", "/v1/tickers", "/v1/articles"]
        before = {path: await client.get(path) for path in paths}
        published = await client.post("/v1/articles", headers=writer, json={
            "title": "Nvidia beats", "body_markdown": "Numbers.", "author": article.author.slug,
            "tickers": ["NVDA"], "status": "published",
        })
        assert published.status_code == 201
        assert (await revalidate(client, "/v1/tickers/AMD/articles", before["/v1/tickers/AMD/articles"])).status_code == 304
        for path in ("/v1/tickers", "/v1/articles"):
            assert (await revalidate(client, path, before[path])).status_code == 200, path

    async def test_editing_a_ticker_changes_the_article_list(
        self, client: httpx.AsyncClient, article: Any, writer: dict[str, str]
    ) -> None:
        before = await client.get("/v1/articles")
        renamed = await client.patch(
            "/v1/tickers/NVDA", json={"name": "Nvidia Renamed"}, headers=writer
        )
        assert renamed.status_code == 200
        after = await revalidate(client, "/v1/articles", before)
        assert after.status_code == 200 and "Nvidia Renamed" in after.text

    async def test_a_delete_changes_the_etag(
        self, client: httpx.AsyncClient, article: Any, writer: dict[str, str]
    ) -> None:
        before = await client.get("/feeds/articles.json")
        assert (
            await client.delete(f"/v1/articles/{article.slug}", headers=writer)
        ).status_code == 204
        after = await revalidate(client, "/feeds/articles.json", before)
        assert after.status_code == 200 and after.json()["items"] == []

    @pytest.mark.parametrize("path", ["/feeds/articles.json", "/v1/articles", "/v1/tickers/NVDA/articles"])
    async def test_a_scheduled_article_appearing_changes_the_etag(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock, article: Any, path: str
    ) -> None:
        scheduled = await factories.create_article(
            session, author=article.author, now=clock.now, published_ago=timedelta(hours=-1), tickers=["NVDA"]
        )
        before = await client.get(path)
        assert scheduled.slug not in before.text
        assert (await revalidate(client, path, before)).status_code == 304

        clock.now += timedelta(hours=2)  # no write happens: only time passes
        after = await revalidate(client, path, before)
        assert after.status_code == 200
        assert scheduled.slug in after.text

    async def test_content_writes_bump_all_and_key_writes_do_not(
        self, session: AsyncSession, article: Any
    ) -> None:
        async def version() -> int:
            return (await session.exec(select(ContentKey.version).where(ContentKey.name == "all"))).one()

        start = await version()
        await factories.create_tag(session, "earnings")
        await session.commit()
        assert await version() > start
        after_tag = await version()
        await keys_service.create_key(session, name="partner", scopes=[Scope.FEEDS_FULL])
        await session.commit()
        assert await version() == after_tag

    async def test_two_app_instances_agree(
        self, app: Any, client: httpx.AsyncClient, article: Any
    ) -> None:
        # A second process with the same settings and database computes the same validator.
        other = like(create_app(app.state.settings), app)
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
            for path in ("/v1/articles", "/feeds/articles.atom"):
                assert (await client.get(path)).headers["etag"] == (await second.get(path)).headers[
                    "etag"
                ]


class TestIfModifiedSince:
    async def test_round_trip(self, client: httpx.AsyncClient, article: Any) -> None:
        first = await client.get("/feeds/articles.rss")
        last_modified = first.headers["last-modified"]
        same = await client.get("/feeds/articles.rss", headers={"If-Modified-Since": last_modified})
        assert same.status_code == 304 and same.content == b""
        older = format_datetime(
            parsedate_to_datetime(last_modified) - timedelta(days=1), usegmt=True
        )
        assert (
            await client.get("/feeds/articles.rss", headers={"If-Modified-Since": older})
        ).status_code == 200

    async def test_if_none_match_takes_precedence(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        first = await client.get("/v1/articles")
        response = await client.get(
            "/v1/articles",
            headers={
                "If-None-Match": 'W/"other"',
                "If-Modified-Since": first.headers["last-modified"],
            },
        )
        assert response.status_code == 200

    async def test_an_invalid_date_is_ignored(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        response = await client.get("/v1/articles", headers={"If-Modified-Since": "yesterday-ish"})
        assert response.status_code == 200

    async def test_a_new_rendering_is_newer_than_every_date_validator_given_before_it(
        self, client: httpx.AsyncClient, article: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        last_modified = (await client.get("/v1/articles")).headers["last-modified"]
        deployed = parsedate_to_datetime(last_modified) + timedelta(minutes=1)
        monkeypatch.setattr(content_state, "REPRESENTATION_REVISED_AT", deployed)

        response = await client.get("/v1/articles", headers={"If-Modified-Since": last_modified})

        assert response.status_code == 200
        assert parsedate_to_datetime(response.headers["last-modified"]) == deployed

    async def test_a_scheduled_article_appearing_moves_last_modified(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock, article: Any
    ) -> None:
        await factories.create_article(
            session, author=article.author, now=clock.now, published_ago=timedelta(hours=-1)
        )
        last_modified = (await client.get("/v1/articles")).headers["last-modified"]
        clock.now += timedelta(hours=2)
        response = await client.get("/v1/articles", headers={"If-Modified-Since": last_modified})
        assert response.status_code == 200
        assert parsedate_to_datetime(response.headers["last-modified"]) > parsedate_to_datetime(
            last_modified
        )




class TestCost:
    async def test_a_page_and_its_validators_are_one_statement(
        self, client: httpx.AsyncClient, engine: AsyncEngine, article: Any
    ) -> None:
        with counted_statements(engine) as full:
            first = await client.get("/v1/articles")
        assert first.status_code == 200
        assert len(full) == 1 and "content_key" in full[0] and "article.card" in full[0]

    @pytest.mark.parametrize("path", ["/v1/articles", "/v1/tickers/NVDA/articles", "/feeds/articles.rss"])
    async def test_a_current_copy_is_answered_without_reading_cards(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock, engine: AsyncEngine, article: Any, path: str
    ) -> None:
        first = await client.get(path)
        with counted_statements(engine) as conditional:
            assert (await revalidate(client, path, first)).status_code == 304
        (statement,) = [statement for statement in conditional if "content_key" in statement]
        assert "article.card" not in statement  # the state and the first date, no card
        await factories.create_article(session, author=article.author, now=clock.now, tickers=["NVDA"])
        with counted_statements(engine) as stale:
            assert (await revalidate(client, path, first)).status_code == 200
        assert ["article.card" in statement for statement in stale if "content_key" in statement] == [False, True]

    async def test_a_ticker_filter_is_one_small_look_up_and_the_page(
        self, client: httpx.AsyncClient, engine: AsyncEngine, article: Any
    ) -> None:
        with counted_statements(engine) as statements:
            assert (await client.get("/v1/articles?ticker=nvda")).status_code == 200
        assert len(statements) == 2
        assert "ticker_alias" in statements[0] and "content_key" in statements[1]


class TestAuthenticatedReads:
    async def test_an_editor_reading_a_draft_gets_a_private_response(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        clock: Clock,
        writer: dict[str, str],
        article: Any,
    ) -> None:
        draft = await factories.create_article(
            session, author=article.author, now=clock.now, status="draft", published_ago=None
        )
        assert (await client.get(f"/v1/articles/{draft.slug}")).status_code == 404
        response = await client.get(f"/v1/articles/{draft.slug}", headers=writer)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-store"
        assert "Authorization" in response.headers["vary"]
        again = await client.get(
            f"/v1/articles/{draft.slug}",
            headers=writer | {"If-None-Match": response.headers["etag"]},
        )
        assert again.status_code == 304

    async def test_keyed_and_anonymous_etags_differ(
        self, client: httpx.AsyncClient, writer: dict[str, str], article: Any
    ) -> None:
        anonymous = await client.get("/v1/articles")
        keyed = await client.get("/v1/articles", headers=writer)
        assert anonymous.headers["etag"] != keyed.headers["etag"]
        # A keyed request cannot reuse the public validator.
        reused = await client.get(
            "/v1/articles", headers=writer | {"If-None-Match": anonymous.headers["etag"]}
        )
        assert reused.status_code == 200

    async def test_a_bad_key_is_a_401_even_with_a_matching_etag(
        self, client: httpx.AsyncClient, article: Any
    ) -> None:
        etag = (await client.get(f"/v1/articles/{article.slug}")).headers["etag"]
        response = await client.get(
            f"/v1/articles/{article.slug}",
            headers={"Authorization": "Bearer tfk_wrong", "If-None-Match": etag},
        )
        assert response.status_code == 401


# Behind an admin key or a subscriber's token: never stored by any cache. The changes log
# too: a partner's poll must see every change committed before it.
PERSONAL = {
    "/v1/changes",
    "/v1/api-keys",
    "/v1/comments",
    "/v1/readers/me",
    "/v1/subscribers",
    "/v1/subscribers/export",
    "/v1/subscriptions/me",
    "/v1/subscriptions/unsubscribe",
    "/v1/webhooks",
    "/v1/webhooks/{webhook_id}",
    "/v1/webhooks/{webhook_id}/deliveries",
}
# Public, but never stored either: a stream never ends.
STREAMS = {"/v1/stream"}


async def test_every_get_route_uses_the_caching_dependency() -> None:
    """One mechanism for all reads: a new GET route without it fails here."""
    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    gets = [route for route in routes if "GET" in route.methods]
    assert len(gets) >= 18
    for route in gets:
        policies = [
            getattr(dependency.call, "http_cache_policy", None)
            for dependency in route.dependant.dependencies
        ]
        assert any(policies), f"{route.path} has no http_cache dependency"
        if route.path.startswith(("/v1", "/feeds")) and route.path not in PERSONAL | STREAMS:
            assert NO_STORE not in policies, route.path
        if route.path in PERSONAL | STREAMS:
            assert NO_STORE in policies, route.path
