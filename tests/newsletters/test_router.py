from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.factories import create_article, create_author
from tests.subscriber_factories import create_newsletter

pytestmark = pytest.mark.asyncio


class TestNewsletters:
    async def test_lists_and_gets_by_slug(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await create_newsletter(
            session, slug="daily-headlines", name="Daily Headlines", time_zone="America/New_York"
        )

        listed = await client.get("/v1/newsletters")
        one = await client.get("/v1/newsletters/daily-headlines")

        assert listed.status_code == one.status_code == 200
        assert [item["slug"] for item in listed.json()["items"]] == ["daily-headlines"]
        assert one.json() | {"id": 0, "created_at": ""} == {
            "id": 0,
            "slug": "daily-headlines",
            "name": "Daily Headlines",
            "description": "",
            "time_zone": "America/New_York",
            "send_hour": 7,
            "created_at": "",
        }

    async def test_unknown_slug_is_a_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/newsletters/nope")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


class TestCreateNewsletter:
    BODY = {
        "slug": "crypto-weekly",
        "name": "Crypto Weekly",
        "time_zone": "Europe/Berlin",
        "send_hour": 8,
    }

    async def test_admin_creates(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.post("/v1/newsletters", json=self.BODY, headers=admin)

        assert response.status_code == 201
        assert response.headers["location"] == "/v1/newsletters/crypto-weekly"

    async def test_takes_a_slug_as_long_as_the_spec_allows(
        self, client: httpx.AsyncClient, app: Any, admin: dict[str, str]
    ) -> None:
        # Found by schemathesis (issue 11): PostgreSQL's column held 64 characters of the
        # spec's 120, and a longer slug was a 500.
        bound = app.openapi()["components"]["schemas"]["NewsletterCreate"]["properties"]["slug"]["maxLength"]
        slug = "n" * bound

        created = await client.post("/v1/newsletters", json=self.BODY | {"slug": slug}, headers=admin)
        found = await client.get(f"/v1/newsletters/{slug}")

        assert created.status_code == 201, created.text
        assert found.status_code == 200 and found.json()["slug"] == slug

    async def test_needs_admin(self, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
        assert (await client.post("/v1/newsletters", json=self.BODY)).status_code == 401
        assert (
            await client.post("/v1/newsletters", json=self.BODY, headers=writer)
        ).status_code == 403

    async def test_refuses_a_duplicate_slug(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        await client.post("/v1/newsletters", json=self.BODY, headers=admin)
        assert (
            await client.post("/v1/newsletters", json=self.BODY, headers=admin)
        ).status_code == 409

    @pytest.mark.parametrize(
        "change",
        [
            {"time_zone": "Mars/Olympus"},
            {"send_hour": 24},
            {"slug": "Bad Slug"},
            # Issue 11: JSON integers only; lax parsing had read these as 1 and 7.
            {"send_hour": True},
            {"send_hour": "7"},
            {"send_hour": 7.0},
        ],
    )
    async def test_validates(
        self, client: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any]
    ) -> None:
        assert (
            await client.post("/v1/newsletters", json=self.BODY | change, headers=admin)
        ).status_code == 422


class TestGetEdition:
    async def test_returns_that_local_days_articles_newest_first(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Any
    ) -> None:
        clock.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        await create_newsletter(session, slug="ny", time_zone="America/New_York")
        author = await create_author(session)
        # New York is UTC-5 in November: the local day 2026-11-19 runs 05:00Z to 05:00Z next day.
        at = {
            "before": datetime(2026, 11, 19, 4, 59, tzinfo=UTC),
            "first": datetime(2026, 11, 19, 5, 0, tzinfo=UTC),
            "late": datetime(2026, 11, 20, 4, 59, tzinfo=UTC),
            "after": datetime(2026, 11, 20, 5, 0, tzinfo=UTC),
        }
        for slug, published_at in at.items():
            await create_article(
                session, author=author, slug=slug, published_at=published_at, now=clock.now
            )
        await create_article(
            session, author=author, slug="draft", status="draft", published_ago=None, now=clock.now
        )

        response = await client.get("/v1/newsletters/ny/editions/2026-11-19")

        assert response.status_code == 200
        body = response.json()
        assert body["newsletter"] == {"slug": "ny", "name": body["newsletter"]["name"]}
        assert body["date"] == "2026-11-19" and body["time_zone"] == "America/New_York"
        assert [card["slug"] for card in body["articles"]] == ["late", "first"]
        assert "body_html" not in body["articles"][0]

    async def test_leaves_out_articles_not_yet_due(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Any
    ) -> None:
        clock.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        await create_newsletter(session, slug="utc")
        author = await create_author(session)
        await create_article(
            session, author=author, slug="due", published_ago=timedelta(hours=1), now=clock.now
        )
        await create_article(
            session,
            author=author,
            slug="scheduled",
            published_ago=timedelta(hours=-1),
            now=clock.now,
        )

        response = await client.get("/v1/newsletters/utc/editions/2026-11-20")

        assert [card["slug"] for card in response.json()["articles"]] == ["due"]

    @pytest.mark.parametrize("day", ["2026-02-30", "20261120", "1700000000", "2026-11-20T00:00"])
    async def test_refuses_what_is_not_a_date(
        self, client: httpx.AsyncClient, session: AsyncSession, day: str
    ) -> None:
        await create_newsletter(session, slug="utc")
        response = await client.get(f"/v1/newsletters/utc/editions/{day}")
        assert response.status_code == 422

    async def test_unknown_newsletter_is_a_404(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/newsletters/nope/editions/2026-11-20")).status_code == 404


class TestEditionDaysAtTheEdgeOfTheCalendar:
    @pytest.mark.parametrize(
        ("time_zone", "day"),
        [
            ("UTC", "9999-12-31"),
            ("America/New_York", "9999-12-31"),
            ("Asia/Tokyo", "9999-12-31"),
            ("Asia/Tokyo", "0001-01-01"),
        ],
    )
    async def test_a_day_without_a_window_is_a_422_not_a_500(
        self, client: httpx.AsyncClient, session: AsyncSession, time_zone: str, day: str
    ) -> None:
        await create_newsletter(session, slug="edge", time_zone=time_zone)

        response = await client.get(f"/v1/newsletters/edge/editions/{day}")

        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["errors"]] == [["path", "day"]]

    @pytest.mark.parametrize(
        ("time_zone", "day"),
        [("UTC", "0001-01-01"), ("America/New_York", "0001-01-01"), ("UTC", "9999-12-30")],
    )
    async def test_the_first_and_last_computable_days_still_answer(
        self, client: httpx.AsyncClient, session: AsyncSession, time_zone: str, day: str
    ) -> None:
        await create_newsletter(session, slug="edge", time_zone=time_zone)

        response = await client.get(f"/v1/newsletters/edge/editions/{day}")

        assert response.status_code == 200, response.text
        assert response.json()["articles"] == []


class TestNewsletterPages:
    async def test_pages_by_slug_with_a_cursor_and_a_next_link(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        for slug in ("c-letter", "a-letter", "b-letter"):
            await create_newsletter(session, slug=slug)

        first = await client.get("/v1/newsletters", params={"limit": 2})
        second = await client.get(
            "/v1/newsletters", params={"limit": 2, "cursor": first.json()["next_cursor"]}
        )

        assert [item["slug"] for item in first.json()["items"]] == ["a-letter", "b-letter"]
        assert 'rel="next"' in first.headers["link"]
        assert [item["slug"] for item in second.json()["items"]] == ["c-letter"]
        assert second.json()["next_cursor"] is None and "link" not in second.headers
