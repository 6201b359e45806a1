"""/v1/changes: each kind of change, drafts, scheduled articles, the ticker filter, keys
and cursors, through the app on the test database."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.changes.prune import prune_changes
from tests.changes.helpers import poll
from tests.conftest import Clock, bearer
from tests.factories import create_author, create_ticker
from tests.helpers import assert_problem, assert_validation_error, iso, problem

pytestmark = pytest.mark.asyncio(loop_scope="session")
NOT_ISSUED = "The cursor is not one this API issued."


@pytest_asyncio.fixture
async def partner(session: AsyncSession) -> dict[str, str]:
    return await bearer(session, Scope.FEEDS_FULL)


@pytest_asyncio.fixture
async def start(client: httpx.AsyncClient, partner: dict[str, str]) -> str:
    """The cursor after every change already in the log (other tests' committed ones)."""
    _, cursor = await poll(client, partner)
    return cursor


async def write(client: httpx.AsyncClient, headers: dict[str, str], method: str, path: str, **body: Any) -> Any:
    response = await client.request(method, path, json=body or None, headers=headers)
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.status_code != 204 else None


async def create(client: httpx.AsyncClient, writer: dict[str, str], author: Any, **fields: Any) -> Any:
    values = {"title": "Chips rally", "body_markdown": "Body.", "author": author.slug, "status": "published"}
    return await write(client, writer, "POST", "/v1/articles", **values | fields)


async def detail(client: httpx.AsyncClient, slug: str) -> Any:
    response = await client.get(f"/v1/articles/{slug}")
    assert response.status_code == 200, response.text
    return response.json()


def change(kind: str, article: dict[str, Any], *, seq: Any = None, occurred_at: Any = None, shown: Any = None) -> Any:
    return {
        "seq": seq, "type": kind, "occurred_at": occurred_at, "article_id": article["id"],
        "slug": article["slug"], "article": shown,
    }


def without_seq(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item | {"seq": None, "occurred_at": None} for item in changes]


class TestEachChange:
    async def test_publish_update_unpublish_delete(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str, clock: Clock,
    ) -> None:
        author = await create_author(session)
        article = await create(client, writer, author, slug="each-change")
        published, cursor = await poll(client, partner, start)
        assert published == [
            change("article.published", article, seq=published[0]["seq"], occurred_at=iso(clock.now),
                   shown=await detail(client, "each-change")),
        ]

        await write(client, writer, "PATCH", "/v1/articles/each-change", title="Chips rally on")
        updated, cursor = await poll(client, partner, cursor)
        assert without_seq(updated) == [change("article.updated", article, shown=await detail(client, "each-change"))]
        assert updated[0]["seq"] > published[0]["seq"]

        await write(client, writer, "PATCH", "/v1/articles/each-change", status="archived")
        unpublished, cursor = await poll(client, partner, cursor)
        assert without_seq(unpublished) == [change("article.unpublished", article)]

        await write(client, writer, "PATCH", "/v1/articles/each-change", status="published")
        await write(client, writer, "DELETE", "/v1/articles/each-change")
        republished_and_deleted, _ = await poll(client, partner, cursor)
        # The republish is superseded by the tombstone: a mirror needs only the latter.
        assert without_seq(republished_and_deleted) == [change("article.deleted", article)]

    async def test_drafts_make_no_change(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str,
    ) -> None:
        author = await create_author(session)
        article = await create(client, writer, author, slug="a-draft", status="draft")
        await write(client, writer, "PATCH", "/v1/articles/a-draft", title="Still a draft")
        assert await poll(client, partner, start) == ([], start)

        await write(client, writer, "PATCH", "/v1/articles/a-draft", status="published")
        changes, _ = await poll(client, partner, start)
        assert without_seq(changes) == [change("article.published", article, shown=await detail(client, "a-draft"))]

    async def test_deleting_a_draft_makes_no_change(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str,
    ) -> None:
        author = await create_author(session)
        await create(client, writer, author, slug="draft-to-go", status="draft")
        await write(client, writer, "DELETE", "/v1/articles/draft-to-go")
        assert await poll(client, partner, start) == ([], start)

    async def test_a_rename_updates_the_articles_showing_it(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str,
    ) -> None:
        author = await create_author(session)
        await create_ticker(session, "RNME")
        article = await create(client, writer, author, slug="renamed-bits", tickers=["RNME"])
        await create(client, writer, author, slug="renamed-draft", status="draft", tickers=["RNME"])
        _, cursor = await poll(client, partner, start)

        await write(client, writer, "PATCH", "/v1/tickers/RNME", name="Renamed Holdings")
        changes, cursor = await poll(client, partner, cursor)
        shown = await detail(client, "renamed-bits")
        assert shown["tickers"][0]["name"] == "Renamed Holdings"
        assert without_seq(changes) == [change("article.updated", article, shown=shown)]

        await write(client, writer, "PATCH", f"/v1/authors/{author.slug}", bio="Covers chips.")
        changes, _ = await poll(client, partner, cursor)
        assert without_seq(changes) == [change("article.updated", article, shown=await detail(client, "renamed-bits"))]


class TestScheduled:
    async def test_appears_when_due_exactly_once(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str, clock: Clock,
    ) -> None:
        author = await create_author(session)
        due = clock.now + timedelta(hours=1)
        article = await create(client, writer, author, slug="scheduled", published_at=iso(due))
        await write(client, writer, "PATCH", "/v1/articles/scheduled", title="Scheduled, edited")
        assert await poll(client, partner, start) == ([], start)

        clock.now = due + timedelta(minutes=5)
        changes, cursor = await poll(client, partner, start)
        assert without_seq(changes) == [change("article.published", article, shown=await detail(client, "scheduled"))]
        assert changes[0]["occurred_at"] == iso(due)
        assert await poll(client, partner, cursor) == ([], cursor)
        assert await poll(client, partner, start) == (changes, cursor)

    async def test_rescheduling_a_visible_article_unpublishes_it(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str, clock: Clock,
    ) -> None:
        author = await create_author(session)
        article = await create(client, writer, author, slug="moved-on")
        _, cursor = await poll(client, partner, start)
        later = clock.now + timedelta(hours=2)
        await write(client, writer, "PATCH", "/v1/articles/moved-on", published_at=iso(later))
        changes, cursor = await poll(client, partner, cursor)
        assert without_seq(changes) == [change("article.unpublished", article)]

        clock.now = later
        changes, _ = await poll(client, partner, cursor)
        assert without_seq(changes) == [change("article.published", article, shown=await detail(client, "moved-on"))]


class TestTickerFilter:
    async def test_keeps_changes_of_articles_that_carry_or_carried_the_ticker(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str,
    ) -> None:
        author = await create_author(session)
        await create_ticker(session, "FLTA")
        await create_ticker(session, "FLTB")
        on_a = await create(client, writer, author, slug="on-a", tickers=["FLTA"])
        await create(client, writer, author, slug="on-b", tickers=["FLTB"])
        _, cursor_a = await poll(client, partner, None, ticker="FLTA")
        changes, _ = await poll(client, partner, None, ticker=["FLTA", "fltb"])
        assert {item["slug"] for item in changes} >= {"on-a", "on-b"}

        await write(client, writer, "PATCH", "/v1/articles/on-a", tickers=["FLTB"])
        moved, cursor_a = await poll(client, partner, cursor_a, ticker="FLTA")
        assert without_seq(moved) == [change("article.updated", on_a, shown=await detail(client, "on-a"))]

        await write(client, writer, "DELETE", "/v1/articles/on-a")
        tombstones, _ = await poll(client, partner, cursor_a, ticker="FLTA")
        assert without_seq(tombstones) == [change("article.deleted", on_a)]

    async def test_a_tombstone_matches_the_tickers_it_carried(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str,
    ) -> None:
        author = await create_author(session)
        await create_ticker(session, "TMBA")
        await create_ticker(session, "TMBB")
        gone = await create(client, writer, author, slug="gone-soon", tickers=["TMBA"])
        _, cursor = await poll(client, partner, None, ticker="TMBA")
        await write(client, writer, "PATCH", "/v1/articles/gone-soon", status="draft")
        await write(client, writer, "PATCH", "/v1/articles/gone-soon", tickers=["TMBB"])
        changes, _ = await poll(client, partner, cursor, ticker="TMBA")
        assert without_seq(changes) == [change("article.unpublished", gone)]
        assert await poll(client, partner, None, ticker="TMBB") == ([], (await poll(client, partner, None, ticker="TMBB"))[1])

    async def test_unknown_symbol_is_a_422(self, client: httpx.AsyncClient, partner: dict[str, str]) -> None:
        response = await client.get("/v1/changes", params={"ticker": "NOPE"}, headers=partner)
        assert_validation_error(response, ["query", "ticker", 0])


class TestKeys:
    async def test_needs_a_key(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/changes")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_needs_the_feeds_full_scope(
        self, client: httpx.AsyncClient, writer: dict[str, str], admin: dict[str, str], partner: dict[str, str]
    ) -> None:
        response = await client.get("/v1/changes", headers=writer)
        assert_problem(response, problem(403, "forbidden", "This operation needs the `feeds:full` scope."))
        for headers in (admin, partner):
            response = await client.get("/v1/changes", headers=headers)
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store"
            assert "etag" not in response.headers


class TestCursors:
    async def test_a_cursor_the_api_did_not_write_is_a_400(
        self, client: httpx.AsyncClient, partner: dict[str, str], start: str
    ) -> None:
        for cursor in ("not-a-cursor", start[:-2] + "xx"):
            response = await client.get("/v1/changes", params={"cursor": cursor}, headers=partner)
            assert_problem(response, problem(400, "invalid-cursor", NOT_ISSUED))

    async def test_a_cursor_of_another_filter_is_a_400(
        self, client: httpx.AsyncClient, session: AsyncSession, partner: dict[str, str], start: str
    ) -> None:
        await create_ticker(session, "CRSR")
        response = await client.get("/v1/changes", params={"cursor": start, "ticker": "CRSR"}, headers=partner)
        assert_problem(response, problem(400, "invalid-cursor", "The cursor belongs to a different list or filter."))

    async def test_pages_follow_each_other(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str,
    ) -> None:
        author = await create_author(session)
        for n in range(5):
            await create(client, writer, author, slug=f"paged-{n}")
        response = await client.get("/v1/changes", params={"cursor": start, "limit": 2}, headers=partner)
        assert response.headers["link"].endswith('; rel="next"')
        first = response.json()
        changes, _ = await poll(client, partner, first["next_cursor"], limit=2)
        assert [item["slug"] for item in first["items"] + changes] == [f"paged-{n}" for n in range(5)]

    async def test_a_cursor_before_pruned_changes_is_a_410(
        self, client: httpx.AsyncClient, session: AsyncSession, writer: dict[str, str],
        partner: dict[str, str], start: str, clock: Clock,
    ) -> None:
        author = await create_author(session)
        await create(client, writer, author, slug="kept")
        await create(client, writer, author, slug="pruned")
        await write(client, writer, "DELETE", "/v1/articles/pruned")
        changes, cursor = await poll(client, partner, start)
        assert [item["type"] for item in changes] == ["article.published", "article.deleted"]

        connection = await session.connection()
        await connection.run_sync(lambda sync: prune_changes(sync, before=clock.now + timedelta(seconds=1)))
        await session.commit()
        response = await client.get("/v1/changes", params={"cursor": start}, headers=partner)
        assert_problem(response, problem(410, "resync-required", pytest.approx(response.json()["detail"])))
        assert "resync" in response.json()["detail"]
        # Up to date: nothing it needs was dropped. Afresh: the visible article is still there.
        assert await poll(client, partner, cursor) == ([], cursor)
        afresh, _ = await poll(client, partner)
        assert "kept" in [item["slug"] for item in afresh] and "pruned" not in [item["slug"] for item in afresh]
