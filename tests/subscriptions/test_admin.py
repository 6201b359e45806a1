import csv
import io
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from tests.conftest import bearer
from tests.subscriber_factories import create_newsletter, create_subscriber

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def reader(session: AsyncSession) -> dict[str, str]:
    return await bearer(session, Scope.SUBSCRIBERS_READ)


@pytest_asyncio.fixture
async def population(app: Any, session: AsyncSession) -> dict[str, Any]:
    settings = app.state.settings
    daily = await create_newsletter(session, slug="daily")
    weekly = await create_newsletter(session, slug="weekly")
    return {
        "active": await create_subscriber(
            session, settings, newsletters=["daily"], email="a@example.com"
        ),
        "pending": await create_subscriber(
            session, settings, newsletters=["daily"], email="=cmd@example.com", status="pending"
        ),
        "weekly": await create_subscriber(
            session, settings, newsletters=["weekly"], email="w@example.com"
        ),
        "gone": await create_subscriber(
            session, settings, newsletters=["daily"], email="g@example.com", status="unsubscribed"
        ),
        "daily": daily,
        "weekly_letter": weekly,
    }


class TestListSubscribers:
    async def test_needs_the_subscribers_read_scope(
        self, client: httpx.AsyncClient, writer: dict[str, str]
    ) -> None:
        assert (await client.get("/v1/subscribers")).status_code == 401
        assert (await client.get("/v1/subscribers", headers=writer)).status_code == 403

    async def test_filters_by_status_and_newsletter(
        self, client: httpx.AsyncClient, reader: dict[str, str], population: dict[str, Any]
    ) -> None:
        active_daily = await client.get(
            "/v1/subscribers", params={"status": "active", "newsletter": "daily"}, headers=reader
        )

        assert active_daily.status_code == 200
        assert [item["email"] for item in active_daily.json()["items"]] == ["a@example.com"]
        item = active_daily.json()["items"][0]
        assert set(item) == {
            "id",
            "email",
            "status",
            "newsletters",
            "tickers",
            "authors",
            "requested_at",
            "confirmed_at",
            "unsubscribed_at",
            "created_at",
            "updated_at",
            "consent",
        }

    async def test_pages_with_a_cursor(
        self, client: httpx.AsyncClient, reader: dict[str, str], population: dict[str, Any]
    ) -> None:
        first = await client.get("/v1/subscribers", params={"limit": 3}, headers=reader)
        second = await client.get(
            "/v1/subscribers",
            params={"limit": 3, "cursor": first.json()["next_cursor"]},
            headers=reader,
        )

        assert len(first.json()["items"]) == 3
        assert 'rel="next"' in first.headers["link"]
        assert [item["email"] for item in second.json()["items"]] == ["g@example.com"]
        assert second.json()["next_cursor"] is None

    async def test_refuses_a_cursor_from_another_filter(
        self, client: httpx.AsyncClient, reader: dict[str, str], population: dict[str, Any]
    ) -> None:
        first = await client.get("/v1/subscribers", params={"limit": 1}, headers=reader)
        other = await client.get(
            "/v1/subscribers",
            params={"limit": 1, "status": "active", "cursor": first.json()["next_cursor"]},
            headers=reader,
        )

        assert other.status_code == 400

    async def test_names_an_unknown_newsletter(
        self, client: httpx.AsyncClient, reader: dict[str, str]
    ) -> None:
        response = await client.get(
            "/v1/subscribers", params={"newsletter": "nope"}, headers=reader
        )
        assert response.status_code == 422


class TestExportSubscribers:
    async def test_exports_csv_safe_for_spreadsheets(
        self, client: httpx.AsyncClient, reader: dict[str, str], population: dict[str, Any]
    ) -> None:
        response = await client.get(
            "/v1/subscribers/export", params={"newsletter": "daily"}, headers=reader
        )

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["email"] for row in rows] == [
            "a@example.com",
            "'=cmd@example.com",
            "g@example.com",
        ]
        assert rows[0]["status"] == "active" and rows[0]["newsletters"] == "daily"
        assert rows[0]["requested_from"] == "192.0.2.1"

    async def test_needs_the_scope(self, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
        assert (await client.get("/v1/subscribers/export", headers=writer)).status_code == 403


class TestNoStore:
    @pytest.mark.parametrize("path", ["/v1/subscribers", "/v1/subscribers/export"])
    async def test_subscriber_lists_are_never_stored(
        self,
        client: httpx.AsyncClient,
        reader: dict[str, str],
        population: dict[str, Any],
        path: str,
    ) -> None:
        response = await client.get(path, headers=reader)

        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers
