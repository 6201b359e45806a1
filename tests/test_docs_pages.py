"""`/docs` and `/redoc` work offline: every asset they load is served by the app itself."""

import re

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")

ABSOLUTE_URL = re.compile(r"""https?://""")
# src="…", href="…", ReDoc's spec-url="…", and the url: '…' Swagger UI's initialiser is given.
REFERENCED = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


def referenced_urls(html: str) -> list[str]:
    return [first or second for first, second in REFERENCED.findall(html)]


class TestDocsPages:
    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    async def test_references_no_absolute_url(self, client: httpx.AsyncClient, page: str) -> None:
        response = await client.get(page)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert ABSOLUTE_URL.findall(response.text) == []

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    async def test_every_referenced_asset_is_served(self, client: httpx.AsyncClient, page: str) -> None:
        urls = referenced_urls((await client.get(page)).text)

        assert "/openapi.json" in urls
        assert any(url.endswith(".js") for url in urls)
        for url in urls:
            assert (await client.get(url)).status_code == 200, url

    async def test_oauth2_redirect_page_is_served(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/docs/oauth2-redirect")

        assert response.status_code == 200
        assert ABSOLUTE_URL.findall(response.text) == []

    async def test_pages_are_not_in_the_spec(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]

        assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
