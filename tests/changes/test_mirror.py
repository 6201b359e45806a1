"""The mirror promise: a partner applying every change while 4 writers publish, edit,
unpublish and delete at once (and scheduled articles come due) ends holding exactly what
`GET /v1/articles` and each article's page show. Writers and the poller each run on
connections of their own, committing for real."""

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.api_keys.scopes import Scope
from app.db import utcnow
from tests.changes.conftest import LiveApp
from tests.changes.helpers import apply, poll
from tests.helpers import iso

pytestmark = pytest.mark.asyncio(loop_scope="session")
WRITERS = 4
WRITES_EACH = 30
SYMBOLS = ["MIRA", "MIRB", "MIRC"]
OK = (200, 201, 204, 404, 409)


class Writer:
    def __init__(self, number: int, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.number = number
        self.client = client
        self.headers = headers
        self.random = random.Random(number)
        self.slugs: list[str] = []
        self.latest_due = utcnow()

    async def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        response = await self.client.request(method, path, json=body, headers=self.headers)
        assert response.status_code in OK, response.text

    def fields(self) -> dict[str, Any]:
        return {"tickers": self.random.sample(SYMBOLS, self.random.randint(0, 2)), "dek": f"dek {self.random.random()}"}

    async def create(self, n: int) -> None:
        slug = f"w{self.number}-{n}"
        body = {"slug": slug, "title": f"Writer {self.number} #{n}", "body_markdown": "Body $MIRA.",
                "author": "mirror-desk", "status": self.random.choice(["published", "published", "draft"])}
        if self.random.random() < 0.3:
            due = utcnow() + timedelta(seconds=self.random.uniform(0.2, 1.5))
            body["published_at"], self.latest_due = iso(due), max(self.latest_due, due)
        await self.send("POST", "/v1/articles", body | self.fields())
        self.slugs.append(slug)

    async def edit(self, slug: str) -> None:
        change = self.random.choice(["fields", "draft", "archived", "published", "delete", "reschedule"])
        if change == "delete":
            await self.send("DELETE", f"/v1/articles/{slug}")
        elif change == "fields":
            await self.send("PATCH", f"/v1/articles/{slug}", self.fields())
        elif change == "reschedule":
            due = utcnow() + timedelta(seconds=self.random.uniform(0.2, 1.0))
            self.latest_due = max(self.latest_due, due)
            await self.send("PATCH", f"/v1/articles/{slug}", {"status": "published", "published_at": iso(due)})
        else:
            await self.send("PATCH", f"/v1/articles/{slug}", {"status": change})

    async def run(self, all_slugs: list[str]) -> None:
        for n in range(WRITES_EACH):
            if not all_slugs or self.random.random() < 0.4:
                await self.create(n)
                all_slugs.append(self.slugs[-1])
            else:
                # Any writer's article: two writers may edit one at once.
                await self.edit(self.random.choice(all_slugs))


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def live_articles(client: httpx.AsyncClient) -> dict[int, dict[str, Any]]:
    """What a reader sees: every page of the feed, and each article's page."""
    found: dict[int, dict[str, Any]] = {}
    cursor = None
    while True:
        response = await client.get("/v1/articles", params={"limit": 100} | ({"cursor": cursor} if cursor else {}))
        page = response.json()
        for card in page["items"]:
            found[card["id"]] = (await client.get(f"/v1/articles/{card['slug']}")).json()
        if not (cursor := page["next_cursor"]):
            return found


async def test_a_mirror_ends_equal_to_the_api(live: LiveApp) -> None:
    admin, partner = live.headers[Scope.ADMIN], live.headers[Scope.FEEDS_FULL]
    async with live.client() as client:
        await client.post("/v1/authors", json={"slug": "mirror-desk", "name": "Mirror Desk", "kind": "human"},
                          headers=admin)
        for symbol in SYMBOLS:
            await client.post("/v1/tickers", json={"symbol": symbol, "name": symbol, "asset_class": "equity"},
                              headers=admin)

        mirror: dict[int, dict[str, Any]] = {}
        cursor: str | None = None
        done = asyncio.Event()
        polls = 0

        async def follow() -> None:
            nonlocal cursor, polls
            async with live.client() as poller:
                while not done.is_set():
                    query = {"limit": 7} | ({"cursor": cursor} if cursor else {})
                    response = await poller.get("/v1/changes", params=query, headers=partner)
                    assert response.status_code == 200, response.text
                    apply(mirror, response.json()["items"])
                    cursor, polls = response.json()["next_cursor"], polls + 1
                    await asyncio.sleep(0.01)

        clients = [live.client() for _ in range(WRITERS)]
        writers = [Writer(number, clients[number], admin) for number in range(WRITERS)]
        slugs: list[str] = []
        following = asyncio.create_task(follow())
        try:
            await asyncio.gather(*(writer.run(slugs) for writer in writers))
            # Let every scheduled article come due, then hold time still to compare.
            latest_due = max(writer.latest_due for writer in writers)
            await asyncio.sleep(max(0.0, (latest_due - utcnow()).total_seconds()) + 0.1)
        finally:
            done.set()
            await following
            for writer_client in clients:
                await writer_client.aclose()
        live.clock.stop()

        changes, _ = await poll(client, partner, cursor)
        apply(mirror, changes)
        expected = await live_articles(client)
    assert polls > 10
    assert len(expected) > 5
    # Some of what the mirror holds was scheduled, and came due during the run.
    assert any(moment(article["published_at"]) > moment(article["created_at"]) for article in expected.values())
    assert mirror == expected
