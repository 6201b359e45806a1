"""Issue 10, item 7: absolute links come from PUBLIC_API_URL, never from the request.

`Host: evil.example` came back in `GET /v1` (cached `public, max-age=3600`), in
`Link: rel="next"` and in the feeds' self links, for every later reader of a shared cache.
"""

from datetime import timedelta

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.conftest import API_URL, Clock
from tests.factories import create_article, create_author

pytestmark = pytest.mark.asyncio

EVIL = "evil.example"
# Everything a client can say about where it thinks it is; none of it may reach a link.
HOSTILE_HEADERS = {
    "Host": EVIL,
    "X-Forwarded-Host": EVIL,
    "X-Forwarded-Proto": "gopher",
    "Forwarded": f"host={EVIL};proto=http",
}


async def get_as_attacker(client: httpx.AsyncClient, url: str, **params: object) -> httpx.Response:
    response = await client.get(url, params=params, headers=HOSTILE_HEADERS)
    assert response.status_code == 200, response.text
    leaked = [name for name, value in response.headers.items() if EVIL in value]
    assert not leaked, leaked
    assert EVIL not in response.text
    assert "gopher" not in response.text
    return response


class TestLinksIgnoreTheHostHeader:
    async def test_root_document(self, client: httpx.AsyncClient) -> None:
        document = (await get_as_attacker(client, "/v1")).json()

        assert document["links"]["self"] == f"{API_URL}/v1"
        assert document["feeds"]["articles"]["rss"] == f"{API_URL}/feeds/articles.rss"

    @pytest.mark.parametrize("path", ["/v1/articles", "/v1/authors/{author}/articles"])
    async def test_next_page_link(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock, path: str
    ) -> None:
        author = await create_author(session)
        for hours in (1, 2):
            ago = timedelta(hours=hours)
            await create_article(session, author=author, now=clock.now, published_ago=ago)
        url = path.format(author=author.slug)

        response = await get_as_attacker(client, url, limit=1)

        cursor = response.json()["next_cursor"]
        assert response.headers["link"] == f'<{API_URL}{url}?limit=1&cursor={cursor}>; rel="next"'

    @pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
    async def test_feed_self_link(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock, fmt: str
    ) -> None:
        await create_article(session, author=await create_author(session), now=clock.now)

        response = await get_as_attacker(client, f"/feeds/articles.{fmt}")

        assert f"{API_URL}/feeds/articles.{fmt}" in response.text
