"""CORS for a browser app on another origin (tests allow https://app.example)."""

import httpx
import pytest

pytestmark = pytest.mark.asyncio

ALLOWED = "https://app.example"
DISALLOWED = "https://evil.example"


def preflight(origin: str, method: str, headers: str = "") -> dict[str, str]:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return request_headers


class TestPreflight:
    @pytest.mark.parametrize(
        "path",
        [
            "/v1/articles",
            "/v1/articles/some-slug",
            "/v1/tickers/NVDA",
            "/feeds/articles.json",
            "/v1",
        ],
    )
    async def test_public_get_from_an_allowed_origin(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.options(path, headers=preflight(ALLOWED, "GET", "if-none-match"))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert "GET" in response.headers["access-control-allow-methods"]
        assert "if-none-match" in response.headers["access-control-allow-headers"].lower()

    @pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
    async def test_authenticated_write_from_an_allowed_origin(
        self, client: httpx.AsyncClient, method: str
    ) -> None:
        response = await client.options(
            "/v1/articles", headers=preflight(ALLOWED, method, "authorization, content-type")
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert method in response.headers["access-control-allow-methods"]
        allowed_headers = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed_headers and "content-type" in allowed_headers

    @pytest.mark.parametrize("method", ["GET", "POST"])
    async def test_refused_for_another_origin(self, client: httpx.AsyncClient, method: str) -> None:
        response = await client.options(
            "/v1/articles", headers=preflight(DISALLOWED, method, "authorization")
        )
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "/problems/cors-refused",
            "title": "Bad Request",
            "status": 400,
            "detail": "Disallowed CORS origin (see the API's CORS_ORIGINS setting).",
        }

    async def test_refused_for_an_unlisted_header(self, client: httpx.AsyncClient) -> None:
        response = await client.options(
            "/v1/articles", headers=preflight(ALLOWED, "POST", "x-secret-admin")
        )
        assert response.status_code == 400


class TestActualRequests:
    @pytest.mark.parametrize("path", ["/v1/articles", "/feeds/articles.json"])
    async def test_scripts_can_read_the_caching_and_paging_headers(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path, headers={"Origin": ALLOWED})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ALLOWED
        exposed = {
            name.strip().lower()
            for name in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"etag", "link", "x-request-id"} <= exposed
        # Caches must keep per-origin copies apart, and per-credential ones too.
        assert {"origin", "authorization"} <= {
            v.strip().lower() for v in response.headers["vary"].split(",")
        }

    async def test_a_304_carries_the_cors_headers(self, client: httpx.AsyncClient) -> None:
        etag = (await client.get("/v1/articles", headers={"Origin": ALLOWED})).headers["etag"]
        response = await client.get(
            "/v1/articles", headers={"Origin": ALLOWED, "If-None-Match": etag}
        )
        assert response.status_code == 304
        assert response.headers["access-control-allow-origin"] == ALLOWED

    async def test_another_origin_gets_no_cors_headers(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/articles", headers={"Origin": DISALLOWED})
        assert "access-control-allow-origin" not in response.headers
