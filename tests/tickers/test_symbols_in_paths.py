"""Symbols that carry `/`, `.` or `-` (BRK/B, BTC/USD, BRK.B, BRK-B) in every path that takes
a symbol. Clients send a slash as %2F, which Starlette decodes before routing (issue 11)."""

import json

import feedparser
import pytest
import pytest_asyncio

from app.demo.loader import load_demo_content
from tests.conftest import SITE_URL
from tests.factories import create_article, create_author, create_ticker
from tests.helpers import assert_problem, problem

pytestmark = pytest.mark.asyncio(loop_scope="session")


def slugs(response):
    assert response.status_code == 200, response.text
    return [item["slug"] for item in response.json()["items"]]


class TestDemoAliasWithSlash:
    """BRK/B is an alias of the demo's BRK.B."""

    @pytest_asyncio.fixture(autouse=True)
    async def demo(self, session):
        await load_demo_content(session, site_url=SITE_URL)
        await session.commit()

    async def test_finds_the_ticker(self, client):
        for spelling in ("BRK%2FB", "brk%2Fb", "BRK.B", "BRK-B"):
            response = await client.get(f"/v1/tickers/{spelling}")

            assert response.status_code == 200, response.text
            assert response.json()["symbol"] == "BRK.B"
            assert "BRK/B" in response.json()["aliases"]

    async def test_lists_its_articles(self, client):
        by_alias = await client.get("/v1/tickers/BRK%2FB/articles")

        assert slugs(by_alias) == slugs(await client.get("/v1/tickers/BRK.B/articles"))
        assert slugs(by_alias) == slugs(await client.get("/v1/articles", params={"ticker": "BRK/B"}))
        assert slugs(by_alias) != []

    async def test_serves_its_feeds(self, client):
        for suffix in ("rss", "atom"):
            by_alias = await client.get(f"/feeds/tickers/BRK%2FB.{suffix}")
            by_symbol = await client.get(f"/feeds/tickers/BRK.B.{suffix}")

            assert by_alias.status_code == 200, by_alias.text
            links = [entry.link for entry in feedparser.parse(by_alias.content).entries]
            assert links and links == [entry.link for entry in feedparser.parse(by_symbol.content).entries]


class TestTickerCreatedWithSlash:
    @pytest_asyncio.fixture
    async def article(self, session):
        await create_ticker(session, "X/Y", name="X over Y", asset_class="fx")
        author = await create_author(session)
        return await create_article(session, author=author, tickers=["X/Y"])

    async def test_created_at_an_encoded_location(self, client, writer):
        response = await client.post(
            "/v1/tickers", headers=writer, json={"symbol": "btc/usd", "name": "Bitcoin in dollars", "asset_class": "crypto"}
        )

        assert response.status_code == 201, response.text
        assert response.headers["location"] == "/v1/tickers/BTC%2FUSD"
        assert (await client.get(response.headers["location"])).json()["symbol"] == "BTC/USD"

    async def test_every_read_path_takes_it(self, client, article):
        assert (await client.get("/v1/tickers/X%2FY")).json()["symbol"] == "X/Y"
        assert slugs(await client.get("/v1/tickers/x%2Fy/articles")) == [article.slug]
        feed = await client.get("/feeds/tickers/X%2FY.json")
        assert feed.status_code == 200, feed.text
        document = json.loads(feed.content)
        assert [item["url"] for item in document["items"]] == [f"{SITE_URL}/articles/{article.slug}"]
        assert document["home_page_url"] == f"{SITE_URL}/tickers/X%2FY"

    async def test_its_articles_are_not_taken_for_a_symbol(self, client, article):
        # `/{symbol:path}` would read "X/Y/articles" as one symbol if declared first.
        assert slugs(await client.get("/v1/tickers/X%2FY/articles")) == [article.slug]

    async def test_updated_and_deleted_by_path(self, client, writer, session):
        await create_ticker(session, "X/Y")

        patched = await client.patch("/v1/tickers/X%2FY", headers=writer, json={"name": "Renamed"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["name"] == "Renamed"
        assert (await client.delete("/v1/tickers/X%2FY", headers=writer)).status_code == 204
        assert (await client.get("/v1/tickers/X%2FY")).status_code == 404

    async def test_unknown_symbol_with_slash_is_a_problem(self, client):
        response = await client.get("/v1/tickers/NO%2FSUCH")

        assert_problem(response, problem(404, "not-found", "No ticker with symbol 'NO/SUCH'."))

    async def test_spec_shows_a_plain_symbol_parameter(self, client):
        paths = (await client.get("/openapi.json")).json()["paths"]

        assert {"/v1/tickers/{symbol}", "/v1/tickers/{symbol}/articles", "/feeds/tickers/{symbol}.{fmt}"} <= set(paths)
        assert not [path for path in paths if ":" in path]
        assert paths["/v1/tickers/{symbol}"]["get"]["parameters"][0]["schema"]["type"] == "string"
