"""/v1/tickers: list with filters, look-up by symbol or alias, a ticker's articles, writes."""

from datetime import timedelta
from typing import Any

import pytest

from app.api_keys.scopes import Scope
from tests.conftest import bearer
from tests.factories import create_article, create_author, create_ticker
from tests.helpers import (
    ANY_ID,
    ANY_TIMESTAMP,
    assert_problem,
    assert_validation_error,
    iso,
    problem,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ticker_document(**overrides: Any) -> dict[str, Any]:
    return {
        "id": ANY_ID,
        "symbol": "GOOGL",
        "name": "Alphabet Inc.",
        "asset_class": "equity",
        "exchange": "NASDAQ",
        "aliases": ["GOOG"],
        "article_count": 0,
        "latest_article_at": None,
        "created_at": ANY_TIMESTAMP,
        "updated_at": ANY_TIMESTAMP,
    } | overrides


GOOGL = {"symbol": "googl", "name": "Alphabet Inc.", "asset_class": "equity", "exchange": "NASDAQ", "aliases": ["goog"]}


def symbols(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["symbol"] for item in response.json()["items"]]


class TestListTickers:
    async def test_lists_by_symbol(self, client, session):
        for symbol in ("MSFT", "BABA", "NVDA"):
            await create_ticker(session, symbol)

        assert symbols(await client.get("/v1/tickers")) == ["BABA", "MSFT", "NVDA"]

    async def test_filters_by_symbol_or_name_prefix(self, client, session):
        await create_ticker(session, "NVDA", name="NVIDIA Corporation")
        await create_ticker(session, "NFLX", name="Netflix")
        await create_ticker(session, "MSFT", name="Microsoft")
        await create_ticker(session, "AAPL", name="Apple")

        assert symbols(await client.get("/v1/tickers?q=n")) == ["NFLX", "NVDA"]
        assert symbols(await client.get("/v1/tickers?q=micro")) == ["MSFT"]
        assert symbols(await client.get("/v1/tickers?q=NV")) == ["NVDA"]

    async def test_treats_wildcards_in_the_prefix_literally(self, client, session):
        await create_ticker(session, "NVDA")

        assert symbols(await client.get("/v1/tickers", params={"q": "%"})) == []
        assert symbols(await client.get("/v1/tickers", params={"q": "_"})) == []

    async def test_filters_by_asset_class(self, client, session):
        await create_ticker(session, "BTC", name="Bitcoin", asset_class="crypto")
        await create_ticker(session, "SPY", name="SPDR S&P 500", asset_class="etf")

        assert symbols(await client.get("/v1/tickers?asset_class=crypto")) == ["BTC"]
        assert_validation_error(await client.get("/v1/tickers?asset_class=bond"), ["query", "asset_class"])

    async def test_pages_with_a_cursor_bound_to_the_filter(self, client, session):
        for symbol in ("AAA", "AAB", "AAC"):
            await create_ticker(session, symbol)

        first = await client.get("/v1/tickers?limit=2&q=AA")
        cursor = first.json()["next_cursor"]
        second = await client.get("/v1/tickers", params={"limit": 2, "q": "AA", "cursor": cursor})

        assert symbols(first) + symbols(second) == ["AAA", "AAB", "AAC"]
        assert_problem(
            await client.get("/v1/tickers", params={"limit": 2, "q": "A", "cursor": cursor}),
            problem(400, "invalid-cursor", "The cursor belongs to a different list or filter."),
        )


class TestGetTicker:
    @pytest.mark.parametrize("path", ["GOOGL", "googl", "GOOG", "goog"])
    async def test_finds_by_symbol_or_alias_in_any_case(self, client, writer, path):
        assert (await client.post("/v1/tickers", headers=writer, json=GOOGL)).status_code == 201

        response = await client.get(f"/v1/tickers/{path}")

        assert response.status_code == 200
        assert response.json() == ticker_document()

    @pytest.mark.parametrize(("alias", "symbol"), [("BRK-B", "BRK.B"), ("9988.HK", "BABA")])
    async def test_finds_by_punctuated_aliases(self, client, session, alias, symbol):
        await create_ticker(session, symbol, aliases=[alias])

        assert (await client.get(f"/v1/tickers/{alias.lower()}")).json()["symbol"] == symbol

    async def test_reports_visible_article_count_and_latest(self, client, session, clock):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=timedelta(days=1))
        newest = await create_article(session, author=author, now=clock.now, body_markdown="On $NVDA.", published_ago=timedelta(hours=1))
        await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=-timedelta(hours=1))

        body = (await client.get("/v1/tickers/NVDA")).json()

        assert (body["article_count"], body["latest_article_at"]) == (2, iso(newest.published_at))

    async def test_is_404_for_unknown_symbol(self, client):
        assert_problem(await client.get("/v1/tickers/zzzz"), problem(404, "not-found", "No ticker with symbol 'ZZZZ'."))

    @pytest.mark.parametrize("path", ["A" * 17, "$NVDA", "-NVDA", "NV%00DA"])
    async def test_refuses_malformed_symbols(self, client, path):
        assert_validation_error(await client.get(f"/v1/tickers/{path}"), ["path", "symbol"])


class TestListTickerArticles:
    async def test_lists_primary_and_mentioned_articles(self, client, session, clock):
        author = await create_author(session)
        await create_ticker(session, "BABA", aliases=["9988.HK"])
        primary = await create_article(session, author=author, now=clock.now, tickers=["BABA"], published_ago=timedelta(hours=2))
        mentioned = await create_article(session, author=author, now=clock.now, body_markdown="Also $9988.HK.", published_ago=timedelta(hours=1))
        await create_article(session, author=author, now=clock.now)

        response = await client.get("/v1/tickers/9988.hk/articles")

        assert [item["slug"] for item in response.json()["items"]] == [mentioned.slug, primary.slug]

    async def test_is_404_for_unknown_symbol(self, client):
        assert (await client.get("/v1/tickers/ZZZZ/articles")).status_code == 404

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    async def test_other_methods_are_405_not_a_write_to_the_ticker(self, client, session, writer, method):
        # Found by schemathesis (issue 11): PATCH here reached `PATCH /v1/tickers/{symbol}`
        # as the symbol `NVDA/articles`, a 415 without a body.
        await create_ticker(session, "NVDA")

        response = await client.request(method, "/v1/tickers/NVDA/articles", headers=writer)

        assert_problem(response, problem(405, None, f"{method} is not allowed on this path."))
        assert response.headers["allow"] == "GET, HEAD"


class TestCreateTicker:
    async def test_creates_with_upper_case_symbol_and_aliases(self, client, writer):
        response = await client.post("/v1/tickers", headers=writer, json=GOOGL)

        assert response.status_code == 201
        assert response.headers["location"] == "/v1/tickers/GOOGL"
        assert response.json() == ticker_document()

    @pytest.mark.parametrize(
        ("body", "taken"),
        [
            ({"symbol": "GOOGL"}, "GOOGL"),
            ({"symbol": "GOOG"}, "GOOG"),
            ({"symbol": "ABC", "aliases": ["goog"]}, "GOOG"),
            ({"symbol": "ABC", "aliases": ["GOOGL"]}, "GOOGL"),
        ],
    )
    async def test_conflicts_with_another_tickers_symbol_or_alias(self, client, writer, body, taken):
        await client.post("/v1/tickers", headers=writer, json=GOOGL)

        response = await client.post("/v1/tickers", headers=writer, json={"name": "Other", "asset_class": "equity"} | body)

        assert_problem(response, problem(409, "conflict", f"Already used by another ticker: {taken}."))

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"symbol": ""}, ["body", "symbol"]),
            ({"symbol": "A" * 17}, ["body", "symbol"]),
            ({"symbol": "NV DA"}, ["body", "symbol"]),
            ({"name": "x" * 201}, ["body", "name"]),
            ({"name": "Line\nbreak"}, ["body", "name"]),
            ({"asset_class": "bond"}, ["body", "asset_class"]),
            ({"aliases": ["ok", "bad alias"]}, ["body", "aliases", 1]),
        ],
    )
    async def test_refuses_invalid_fields(self, client, writer, overrides, loc):
        response = await client.post("/v1/tickers", headers=writer, json=GOOGL | overrides)

        assert_validation_error(response, loc)


class TestUpdateTicker:
    async def test_replaces_aliases_and_changes_only_fields_sent(self, client, writer):
        created = (await client.post("/v1/tickers", headers=writer, json=GOOGL)).json()

        response = await client.patch("/v1/tickers/goog", headers=writer, json={"aliases": ["GOOGLE", "goog"]})

        assert response.status_code == 200
        assert response.json() == created | {"aliases": ["GOOG", "GOOGLE"], "updated_at": ANY_TIMESTAMP}
        response = await client.patch("/v1/tickers/GOOGL", headers=writer, json={"aliases": []})
        assert response.json()["aliases"] == []
        assert (await client.get("/v1/tickers/GOOG")).status_code == 404

    async def test_conflicts_with_another_tickers_symbol(self, client, session, writer):
        await create_ticker(session, "MSFT")
        await client.post("/v1/tickers", headers=writer, json=GOOGL)

        response = await client.patch("/v1/tickers/GOOGL", headers=writer, json={"aliases": ["MSFT"]})

        assert_problem(response, problem(409, "conflict", "Already used by another ticker: MSFT."))

    @pytest.mark.parametrize("field", ["name", "asset_class", "aliases"])
    async def test_refuses_null_for_fields_that_cannot_be_empty(self, client, session, writer, field):
        """Issue 11: the spec no longer marks these nullable, and the server refuses null."""
        await create_ticker(session, "MSFT")

        assert_validation_error(
            await client.patch("/v1/tickers/MSFT", headers=writer, json={field: None}), ["body", field]
        )

    async def test_clears_the_exchange_with_null(self, client, session, writer):
        await create_ticker(session, "MSFT")

        response = await client.patch("/v1/tickers/MSFT", headers=writer, json={"exchange": None})

        assert (response.status_code, response.json()["exchange"]) == (200, None)


class TestDeleteTicker:
    async def test_deletes_an_unused_ticker_and_its_aliases(self, client, session, writer):
        await client.post("/v1/tickers", headers=writer, json=GOOGL)

        response = await client.delete("/v1/tickers/goog", headers=writer)

        assert response.status_code == 204
        assert (await client.get("/v1/tickers/GOOGL")).status_code == 404
        assert (await client.post("/v1/tickers", headers=writer, json=GOOGL)).status_code == 201

    @pytest.mark.parametrize("how", ["primary", "mentioned"])
    async def test_conflicts_while_articles_are_linked(self, client, session, clock, writer, how):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        if how == "primary":
            await create_article(session, author=author, now=clock.now, tickers=["NVDA"])
        else:
            await create_article(session, author=author, now=clock.now, body_markdown="$NVDA")

        response = await client.delete("/v1/tickers/NVDA", headers=writer)

        assert_problem(response, problem(409, "conflict", "Articles are tagged with this ticker; untag them first."))


WRITES = [
    ("POST", "/v1/tickers", {"symbol": "X", "name": "X", "asset_class": "equity"}),
    ("PATCH", "/v1/tickers/X", {"name": "X"}),
    ("DELETE", "/v1/tickers/X", None),
]


class TestTickerWritesAuthorization:
    @pytest.mark.parametrize(("method", "url", "body"), WRITES)
    async def test_needs_a_key(self, client, method, url, body):
        response = await client.request(method, url, json=body)

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'

    @pytest.mark.parametrize(("method", "url", "body"), WRITES)
    async def test_refuses_the_wrong_scope(self, client, session, method, url, body):
        response = await client.request(method, url, json=body, headers=await bearer(session, Scope.SUBSCRIBERS_READ))

        assert_problem(response, problem(403, "forbidden", "This operation needs the `content:write` scope."))
