"""`GET /v1` lists entry points and feeds as absolute URLs that exist."""

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from app.main import ROUTERS
from tests.conftest import API_URL

pytestmark = pytest.mark.asyncio

ROOT = API_URL


def flatten(document: dict) -> list[str]:
    urls = list(document["links"].values()) + list(document["documentation"].values())
    for formats in document["feeds"].values():
        urls += list(formats.values())
    return urls


class TestDiscovery:
    async def test_lists_entry_points_and_feeds(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1")
        assert response.status_code == 200
        document = response.json()
        assert document["links"]["self"] == f"{ROOT}/v1"
        assert document["links"]["articles"] == f"{ROOT}/v1/articles"
        assert document["feeds"]["articles"] == {
            "rss": f"{ROOT}/feeds/articles.rss",
            "atom": f"{ROOT}/feeds/articles.atom",
            "json": f"{ROOT}/feeds/articles.json",
        }
        assert document["feeds"]["ticker"]["rss"] == f"{ROOT}/feeds/tickers/{{symbol}}.rss"
        assert set(document["feeds"]) == {"articles", "ticker", "author", "tag"}
        assert all(url.startswith(f"{ROOT}/") for url in flatten(document))

    async def test_every_listed_url_is_a_route(self, app, client: httpx.AsyncClient) -> None:
        patterns = [
            route.path_regex
            for router in ROUTERS
            for route in router.routes
            if isinstance(route, APIRoute)
        ]
        patterns += [
            route.path_regex for route in app.routes if isinstance(route, Route)
        ]  # /openapi.json, /docs
        for url in flatten((await client.get("/v1")).json()):
            path = url.removeprefix(ROOT).replace("{slug}", "some-slug").replace("{symbol}", "NVDA")
            assert any(pattern.match(path) for pattern in patterns), url

    async def test_the_listed_feeds_answer(self, client: httpx.AsyncClient) -> None:
        feeds = (await client.get("/v1")).json()["feeds"]["articles"]
        for url in feeds.values():
            assert (await client.get(url)).status_code == 200, url

    async def test_is_cacheable(self, client: httpx.AsyncClient) -> None:
        first = await client.get("/v1")
        assert first.headers["cache-control"] == "public, max-age=3600"
        again = await client.get("/v1", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
