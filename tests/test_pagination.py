"""Keyset cursors: walking a feed while articles are published returns each older one exactly once,
and a cursor the API did not issue for this list and filter is a 400."""

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.pagination import filter_scope
from app.settings import Settings
from tests.conftest import API_URL, SITE_URL, like
from tests.factories import create_article, create_author, create_tag, create_ticker
from tests.helpers import assert_problem, assert_validation_error, problem

pytestmark = pytest.mark.asyncio(loop_scope="session")

NOT_ISSUED = problem(400, "invalid-cursor", "The cursor is not one this API issued.")
OTHER_FILTER = problem(400, "invalid-cursor", "The cursor belongs to a different list or filter.")


async def walk(client: httpx.AsyncClient, url: str, params: dict[str, Any], between_pages: Any = None) -> list[str]:
    """Every slug of a list, following `next_cursor`; `between_pages(n)` runs after page n."""
    seen: list[str] = []
    cursor = None
    for page in range(100):
        response = await client.get(url, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["slug"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        if between_pages:
            await between_pages(page)
    raise AssertionError("the walk did not end")


class TestWalkingTheFeed:
    async def test_sees_every_older_article_once_while_newer_ones_are_published(self, client, session, clock):
        author = await create_author(session)
        older = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(minutes=10 * n + 10))
            for n in range(11)
        ]

        async def publish_newer(page: int) -> None:
            for _ in range(2):
                clock.now += timedelta(seconds=1)
                await create_article(session, author=author, now=clock.now, published_ago=timedelta(0))

        seen = await walk(client, "/v1/articles", {"limit": 3}, publish_newer)

        assert seen == [article.slug for article in older]

    async def test_breaks_ties_on_equal_publication_times(self, client, session, clock):
        author = await create_author(session)
        moment = clock.now - timedelta(hours=1)
        made = [await create_article(session, author=author, now=clock.now, published_at=moment) for _ in range(7)]

        async def publish_same_moment(page: int) -> None:
            # A newer id at the very same instant sorts before the cursor: not served again.
            await create_article(session, author=author, now=clock.now, published_at=moment)

        seen = await walk(client, "/v1/articles", {"limit": 2}, publish_same_moment)

        assert seen[:7] == [article.slug for article in sorted(made, key=lambda a: a.id, reverse=True)][:7]
        assert len(seen) == len(set(seen)) == 7

    async def test_survives_the_deletion_of_the_cursor_article(self, client, session, clock, writer):
        author = await create_author(session)
        made = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=n + 1))
            for n in range(6)
        ]
        first = await client.get("/v1/articles", params={"limit": 2})
        last_served = first.json()["items"][-1]["slug"]
        assert (await client.delete(f"/v1/articles/{last_served}", headers=writer)).status_code == 204

        rest = await client.get("/v1/articles", params={"limit": 10, "cursor": first.json()["next_cursor"]})

        assert [item["slug"] for item in rest.json()["items"]] == [a.slug for a in made[2:]]

    async def test_does_not_serve_articles_that_become_due_behind_the_cursor(self, client, session, clock):
        author = await create_author(session)
        made = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=n + 1))
            for n in range(4)
        ]
        scheduled = await create_article(session, author=author, now=clock.now, published_ago=-timedelta(minutes=1))

        async def time_passes(page: int) -> None:
            clock.now += timedelta(minutes=1)

        seen = await walk(client, "/v1/articles", {"limit": 1}, time_passes)

        assert seen == [article.slug for article in made]
        assert scheduled.slug not in seen

    async def test_keeps_the_cursor_when_the_page_size_changes(self, client, session, clock):
        author = await create_author(session)
        made = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=n + 1))
            for n in range(5)
        ]
        cursor = (await client.get("/v1/articles", params={"limit": 1})).json()["next_cursor"]

        response = await client.get("/v1/articles", params={"limit": 3, "cursor": cursor})

        assert [item["slug"] for item in response.json()["items"]] == [a.slug for a in made[1:4]]

    @pytest.mark.parametrize("feed", ["ticker", "tag", "author", "filtered"])
    async def test_walks_sub_feeds_under_inserts(self, client, session, clock, feed):
        author = await create_author(session)
        bystander = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_tag(session, "ai")
        links = {"tickers": ["NVDA"], "tags": ["ai"]}
        older = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=n + 1), **links)
            for n in range(7)
        ]
        for n in range(3):
            await create_article(session, author=bystander, now=clock.now, published_ago=timedelta(minutes=90 + 60 * n))
        url, params = {
            "ticker": ("/v1/tickers/nvda/articles", {}),
            "tag": ("/v1/tags/ai/articles", {}),
            "author": (f"/v1/authors/{author.slug}/articles", {}),
            "filtered": ("/v1/articles", {"ticker": "NVDA", "tag": "ai", "author": author.slug}),
        }[feed]

        async def publish_newer(page: int) -> None:
            clock.now += timedelta(seconds=1)
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(0), **links)

        seen = await walk(client, url, params | {"limit": 2}, publish_newer)

        assert seen == [article.slug for article in older]


class TestWalkingSearchResults:
    async def test_sees_every_match_once_in_rank_order(self, client, session, clock):
        author = await create_author(session)
        strong = [
            await create_article(session, author=author, now=clock.now, title="Copper copper copper", published_ago=timedelta(days=n + 1))
            for n in range(3)
        ]
        weak = [
            await create_article(session, author=author, now=clock.now, body_markdown="Some copper.", published_ago=timedelta(hours=n + 1))
            for n in range(4)
        ]
        await create_article(session, author=author, now=clock.now, title="Gold")

        seen = await walk(client, "/v1/articles", {"q": "copper", "limit": 2})

        assert seen == [a.slug for a in strong] + [a.slug for a in weak]

    async def test_sees_every_older_match_once_while_newer_ones_are_published(self, client, session, clock):
        author = await create_author(session)
        older = [
            await create_article(session, author=author, now=clock.now, body_markdown="Tin prices moved.", published_ago=timedelta(hours=n + 1))
            for n in range(8)
        ]

        async def publish_newer(page: int) -> None:
            clock.now += timedelta(seconds=1)
            await create_article(
                session, author=author, now=clock.now, published_ago=timedelta(0),
                title="Tin tin tin", body_markdown="Tin, tin and more tin " * (page + 1),
            )
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(0), title="Unrelated")

        seen = await walk(client, "/v1/articles", {"q": "tin", "limit": 3}, publish_newer)

        assert [slug for slug in seen if slug in {a.slug for a in older}] == [a.slug for a in older]


def tamper(cursor: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


class TestInvalidCursors:
    @pytest_asyncio.fixture(loop_scope="session")
    async def cursor(self, client, session, clock) -> str:
        author = await create_author(session, slug="cursor-author")
        await create_ticker(session, "NVDA")
        await create_ticker(session, "MSFT")
        for n in range(3):
            await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=timedelta(hours=n + 1))
        response = await client.get("/v1/articles", params={"limit": 1, "ticker": "NVDA"})
        return response.json()["next_cursor"]

    @pytest.mark.parametrize("garbage", ["garbage", "A", "AAAA", "eyJ2IjoxfQ", "_-_-_-_-", "a" * 512])
    async def test_refuses_garbage(self, client, garbage):
        assert_problem(await client.get("/v1/articles", params={"cursor": garbage}), NOT_ISSUED)

    @pytest.mark.parametrize("garbage", ["", "\x00", "abc+def/", "abc=", "ab cd", "é", "a" * 513])
    async def test_refuses_characters_and_lengths_no_cursor_has_with_the_contracts_400(self, client, garbage):
        """Issue 11: a cursor outside base64url was a 422; the contract says 400 for any cursor we did not write."""
        assert_problem(await client.get("/v1/articles", params={"cursor": garbage}), NOT_ISSUED)

    async def test_refuses_a_real_cursor_with_a_character_decoding_would_skip(self, client, cursor):
        """`urlsafe_b64decode` drops characters outside its alphabet: `!` inside a good cursor
        must not make a second spelling of it."""
        spelled_again = cursor[:5] + "!" + cursor[5:]

        assert_problem(await client.get("/v1/articles", params={"ticker": "NVDA", "cursor": spelled_again}), NOT_ISSUED)

    async def test_refuses_a_tampered_cursor(self, client, cursor):
        assert_problem(await client.get("/v1/articles", params={"ticker": "NVDA", "cursor": tamper(cursor)}), NOT_ISSUED)

    async def test_refuses_a_truncated_cursor(self, client, cursor):
        assert_problem(await client.get("/v1/articles", params={"ticker": "NVDA", "cursor": cursor[:-4]}), NOT_ISSUED)

    async def test_refuses_a_cursor_from_an_older_format(self, client, app):
        """A cursor this API signed under a previous format version is stale, not a 500."""
        codec = app.state.cursor_codec
        payload = json.dumps({"v": 0, "k": ["2026-01-01T00:00:00+00:00", 1], "s": filter_scope("articles")}).encode()
        stale = base64.urlsafe_b64encode(codec._sign(payload) + payload).rstrip(b"=").decode()

        response = await client.get("/v1/articles", params={"cursor": stale})

        assert_problem(
            response, problem(400, "invalid-cursor", "The cursor has expired; start again from the first page.")
        )

    async def test_refuses_a_cursor_signed_with_another_secret(self, client, app, session, clock, settings):
        from app.main import create_app

        other_settings = Settings(**settings.model_dump() | {"secret_key": "another-secret"}, _env_file=None)
        other = like(create_app(other_settings), app)
        transport = httpx.ASGITransport(app=other)
        author = await create_author(session)
        for n in range(2):
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=n + 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other_client:
            foreign = (await other_client.get("/v1/articles", params={"limit": 1})).json()["next_cursor"]

        assert_problem(await client.get("/v1/articles", params={"cursor": foreign}), NOT_ISSUED)

    @pytest.mark.parametrize(
        ("url", "params"),
        [
            ("/v1/articles", {}),
            ("/v1/articles", {"ticker": "MSFT"}),
            ("/v1/articles", {"ticker": ["NVDA", "MSFT"]}),
            ("/v1/articles", {"ticker": "NVDA", "author_kind": "human"}),
            ("/v1/articles", {"ticker": "NVDA", "q": "article"}),
            ("/v1/articles", {"ticker": "NVDA", "since": "2020-01-01T00:00:00Z"}),
            ("/v1/tags", {}),
            ("/v1/tickers", {}),
            ("/v1/authors", {}),
        ],
    )
    async def test_refuses_a_cursor_from_another_list_or_filter(self, client, cursor, url, params):
        assert_problem(await client.get(url, params=params | {"cursor": cursor}), OTHER_FILTER)

    async def test_accepts_the_same_filter_spelt_differently(self, client, cursor):
        # An alias names the same ticker, so the cursor fits the same list.
        response = await client.get("/v1/articles", params={"ticker": "nvda", "cursor": cursor, "limit": 1})

        assert response.status_code == 200
        assert response.json()["items"][0]["canonical_url"].startswith(f"{SITE_URL}/articles/")


class TestEveryList:
    LISTS = [
        "/v1/articles",
        "/v1/authors",
        "/v1/tickers",
        "/v1/tags",
        "/v1/authors/list-author/articles",
        "/v1/tickers/NVDA/articles",
        "/v1/tags/list-tag/articles",
    ]

    @pytest_asyncio.fixture(loop_scope="session")
    async def catalogue(self, session, clock) -> None:
        authors = [await create_author(session, slug="list-author"), await create_author(session)]
        await create_ticker(session, "NVDA")
        await create_ticker(session, "MSFT")
        await create_tag(session, "list-tag")
        await create_tag(session, "other-tag")
        for n in range(3):
            await create_article(
                session, author=authors[0], now=clock.now, tickers=["NVDA"], tags=["list-tag"],
                published_ago=timedelta(hours=n + 1),
            )

    @pytest.mark.parametrize("url", LISTS)
    async def test_pages_with_next_cursor_and_link(self, client, catalogue, url):
        first = await client.get(url, params={"limit": 1})

        assert first.status_code == 200
        body = first.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) == 1
        assert first.headers["link"] == f'<{API_URL}{url}?limit=1&cursor={body["next_cursor"]}>; rel="next"'
        second = (await client.get(first.headers["link"][1:].split(">")[0])).json()
        assert second["items"] and second["items"][0] != body["items"][0]

    @pytest.mark.parametrize("url", LISTS)
    @pytest.mark.parametrize("limit", ["0", "101"])
    async def test_refuses_limit_out_of_range(self, client, catalogue, url, limit):
        assert_validation_error(await client.get(url, params={"limit": limit}), ["query", "limit"])

    @pytest.mark.parametrize("url", LISTS)
    async def test_refuses_a_forged_cursor(self, client, catalogue, url):
        assert_problem(await client.get(url, params={"cursor": "Zm9yZ2Vk"}), NOT_ISSUED)


def signed(codec: Any, payload: bytes) -> str:
    """A cursor correctly signed with the app's secret around `payload`, whatever it holds:
    what anyone holding the secret (or the public development one) can make."""
    return base64.urlsafe_b64encode(codec._sign(payload) + payload).rstrip(b"=").decode()


def scope_of(cursor: str) -> str:
    payload = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))[16:]
    return json.loads(payload)["s"]


def payload(scope: str, key: str) -> bytes:
    """A current-version cursor payload with `key` written as raw JSON (so `1e999` stays so)."""
    return b'{"v":1,"k":%s,"s":"%s"}' % (key.encode(), scope.encode())


MOMENT = '"2026-01-01T00:00:00+00:00"'


class TestSignedNonsense:
    """Issue 10, item 9: a cursor signed with the right secret but holding values the API
    never writes is a 400, like any cursor it did not issue, never a 500. Before, a naive
    timestamp reached the database layer, an id past 64 bits overflowed the driver, and a
    payload that was no JSON object raised AttributeError."""

    @pytest_asyncio.fixture(loop_scope="session")
    async def scopes(self, client, session, clock) -> dict[str, str]:
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_ticker(session, "MSFT")
        for n in range(3):
            await create_article(
                session, author=author, now=clock.now, title=f"Bitcoin halving note {n}",
                published_ago=timedelta(hours=n + 1),
            )
        lists = {"feed": ("/v1/articles", {}), "search": ("/v1/articles", {"q": "bitcoin"}), "tickers": ("/v1/tickers", {})}
        scopes = {}
        for name, (url, params) in lists.items():
            response = await client.get(url, params=params | {"limit": 1})
            scopes[name] = scope_of(response.json()["next_cursor"])
        return scopes

    @pytest.mark.parametrize(
        "key",
        [
            '["2026-01-01T00:00:00", 1]',
            '["0001-01-01T00:00:00+05:00", 1]',
            '["9999-12-31T23:59:59-05:00", 1]',
            f"[{MOMENT}, 9223372036854775808]",
            f"[{MOMENT}, 2147483648]",
            f"[{MOMENT}, 1e999]",
            "{}",
            '"k"',
        ],
        ids=["naive", "before-year-1-in-utc", "after-year-9999-in-utc", "id-past-64-bits", "id-past-32-bits", "infinite-id", "object", "string"],
    )
    async def test_feed_cursor_holding_nonsense_is_a_400(self, client, app, scopes, key):
        cursor = signed(app.state.cursor_codec, payload(scopes["feed"], key))

        assert_problem(await client.get("/v1/articles", params={"cursor": cursor}), NOT_ISSUED)

    @pytest.mark.parametrize(
        "key",
        [
            f"[1e999, {MOMENT}, 1]",
            f"[-1e999, {MOMENT}, 1]",
            f"[NaN, {MOMENT}, 1]",
            f"[Infinity, {MOMENT}, 1]",
            '[0.5, "2026-01-01T00:00:00", 1]',
            f"[0.5, {MOMENT}, -9223372036854775809]",
        ],
        ids=["1e999", "-1e999", "NaN", "Infinity", "naive", "id-past-64-bits"],
    )
    async def test_search_cursor_holding_nonsense_is_a_400(self, client, app, scopes, key):
        cursor = signed(app.state.cursor_codec, payload(scopes["search"], key))

        response = await client.get("/v1/articles", params={"q": "bitcoin", "cursor": cursor})

        assert_problem(response, NOT_ISSUED)

    @pytest.mark.parametrize(
        "key", ['["NV\\u0000DA", 1]', '["\\ud800", 1]'], ids=["nul", "lone-surrogate"]
    )
    async def test_name_cursor_holding_text_no_database_stores_is_a_400(self, client, app, scopes, key):
        cursor = signed(app.state.cursor_codec, payload(scopes["tickers"], key))

        assert_problem(await client.get("/v1/tickers", params={"cursor": cursor}), NOT_ISSUED)

    @pytest.mark.parametrize(
        "raw",
        [b"[1, 2]", b'"cursor"', b"null", b"7", b'{"v": 1, "k": ["\xff"], "s": "x"}', b"\xff\xfe", b"[" * 300, b"{\"v\": NaN}"],
        ids=["list", "string", "null", "number", "invalid-utf8-inside", "not-utf8", "deep", "nan-version"],
    )
    async def test_payload_that_is_no_json_object_is_a_400(self, client, app, raw):
        cursor = signed(app.state.cursor_codec, raw)

        assert_problem(await client.get("/v1/articles", params={"cursor": cursor}), NOT_ISSUED)
