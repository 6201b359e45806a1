"""Delivering webhooks to real receivers on 127.0.0.1: signatures checked with the
`standardwebhooks` package, retries and backoff on a moved clock, order per endpoint,
giving up and disabling, SSRF checks at delivery, redirects, the response cap."""

import asyncio
import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks import Webhook

from app.api_keys.scopes import Scope
from app.models import Author
from tests.changes.helpers import poll
from tests.conftest import Clock, bearer
from tests.factories import create_author, create_ticker
from tests.helpers import ANY_ID, iso
from tests.webhooks.conftest import Deliverer, create_endpoint
from tests.webhooks.receiver import OK, Answer, Receiver

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def publish(client: httpx.AsyncClient, writer: dict[str, str], author: Author, title: str, **fields: Any) -> Any:
    body = {"title": title, "body_markdown": "Body.", "author": author.slug, "status": "published"} | fields
    response = await client.post("/v1/articles", json=body, headers=writer)
    assert response.status_code == 201, response.text
    return response.json()


async def deliveries(client: httpx.AsyncClient, admin: dict[str, str], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 100}, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def verified(endpoint: dict[str, Any], request: Any) -> Any:
    """The body, once the spec's own library has verified its signature."""
    return Webhook(endpoint["secret"]).verify(request.body, request.headers)


def titles(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["data"]["article"]["title"] for request in receiver.received]


class AnyDuration:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and 0 <= other < 5000


@pytest_asyncio.fixture
async def author(session: AsyncSession) -> Author:
    return await create_author(session)


class TestDelivery:
    async def test_a_published_article_arrives_signed_as_the_changes_list_shows_it(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        session: AsyncSession, author: Author, deliver: Deliverer,
    ) -> None:
        partner = await bearer(session, Scope.FEEDS_FULL)
        _, cursor = await poll(hooks_client, partner)
        async with Receiver() as receiver:
            endpoint = await create_endpoint(hooks_client, admin, receiver.url())
            article = await publish(hooks_client, writer, author, "Chips rally")
            report = await deliver()
        [listed] = (await poll(hooks_client, partner, cursor))[0]
        [request] = receiver.received
        assert verified(endpoint, request) == {
            "type": "article.published", "timestamp": listed["occurred_at"], "data": listed,
        }
        assert listed["article"]["id"] == article["id"]
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["content-type"] == "application/json"
        assert (report.fanned_out, report.delivered) == (1, 1)
        assert await deliveries(hooks_client, admin, endpoint) == [{
            "id": ANY_ID, "event_id": request.headers["webhook-id"], "event_type": "article.published", "attempt": 1,
            "attempted_at": listed["occurred_at"], "duration_ms": AnyDuration(), "status_code": 204, "error": None,
            "outcome": "succeeded", "next_retry_at": None,
        }]

    async def test_the_test_ping_arrives_signed(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], deliver: Deliverer
    ) -> None:
        async with Receiver() as receiver:
            endpoint = await create_endpoint(hooks_client, admin, receiver.url())
            queued = (await hooks_client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=admin)).json()
            await deliver()
        [request] = receiver.received
        assert verified(endpoint, request)["type"] == "webhook.test"
        assert verified(endpoint, request)["data"] == {"webhook_id": endpoint["id"]}
        assert request.headers["webhook-id"] == queued["event_id"]

    async def test_events_and_tickers_filter(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        session: AsyncSession, author: Author, deliver: Deliverer,
    ) -> None:
        await create_ticker(session, "NVDA")
        async with Receiver() as receiver:
            endpoint = await create_endpoint(
                hooks_client, admin, receiver.url(), events=["article.deleted"], tickers=["NVDA"]
            )
            carried = await publish(hooks_client, writer, author, "Chips", tickers=["NVDA"])
            other = await publish(hooks_client, writer, author, "Oil")
            for article in (carried, other):
                assert (await hooks_client.delete(f"/v1/articles/{article['slug']}", headers=writer)).status_code == 204
            await deliver()
        assert [(verified(endpoint, r)["type"], verified(endpoint, r)["data"]["article_id"]) for r in receiver.received] == [
            ("article.deleted", carried["id"])
        ]


class TestRetries:
    async def test_fails_is_slow_then_succeeds_with_backoff(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer, clock: Clock,
    ) -> None:
        answers = [Answer(status=500), Answer(delay=3), OK]
        async with Receiver(lambda _path, n: answers[n]) as receiver:
            endpoint = await create_endpoint(hooks_client, admin, receiver.url())
            await publish(hooks_client, writer, author, "Chips rally")
            start = clock.now
            assert (await deliver()).retried == 1
            assert (await deliver()).retried == 0  # not due before its backoff
            clock.now = start + timedelta(seconds=5)
            assert (await deliver()).retried == 1  # timed out
            clock.now = start + timedelta(seconds=14)
            assert (await deliver()).delivered == 0
            clock.now = start + timedelta(seconds=15)
            assert (await deliver()).delivered == 1
        log = await deliveries(hooks_client, admin, endpoint)
        assert [(d["attempt"], d["outcome"], d["status_code"], d["error"], d["next_retry_at"]) for d in log] == [
            (3, "succeeded", 204, None, None),
            (2, "retrying", None, "timed out after 1 s", iso(start + timedelta(seconds=15))),
            (1, "retrying", 500, None, iso(start + timedelta(seconds=5))),
        ]
        assert len({request.headers["webhook-id"] for request in receiver.received}) == 1
        assert len(receiver.received) == 3
        for request in receiver.received:
            verified(endpoint, request)

    async def test_in_order_per_endpoint(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer, clock: Clock,
    ) -> None:
        async with Receiver(lambda _path, n: Answer(status=503) if n == 0 else OK) as receiver:
            await create_endpoint(hooks_client, admin, receiver.url())
            for title in ("First", "Second", "Third"):
                await publish(hooks_client, writer, author, title)
            await deliver()
            assert titles(receiver) == ["First"]  # the others wait behind it
            clock.now += timedelta(seconds=5)
            await deliver()
        assert titles(receiver) == ["First", "First", "Second", "Third"]

    async def test_gives_up_after_24_hours_then_sends_the_next_and_disables_after_3_days(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer, clock: Clock,
    ) -> None:
        async with Receiver(lambda _path, _n: Answer(status=500)) as receiver:
            endpoint = await create_endpoint(hooks_client, admin, receiver.url())
            for title in ("First", "Second", "Third", "Fourth"):
                await publish(hooks_client, writer, author, title)
            start = clock.now
            # Waits from 10 min: fewer rounds to drive over three days.
            deliver.settings = deliver.settings.model_copy(update={"webhook_retry_base_seconds": 600})
            await deliver()
            for _ in range(100):
                [last, *_] = await deliveries(hooks_client, admin, endpoint)
                # Given up, the next event is due at once.
                clock.now = datetime.fromisoformat(last["next_retry_at"] or last["attempted_at"])
                report = await deliver()
                if report.disabled:
                    break
            shown = (await hooks_client.get(f"/v1/webhooks/{endpoint['id']}", headers=admin)).json()
        log = (await deliveries(hooks_client, admin, endpoint))[::-1]
        firsts = [d for d in log if d["attempt"] == 1]
        given_up = [d for d in log if d["outcome"] == "failed"]
        # Each event is tried for at least 24 hours, with waits that grow, and only then given up.
        first_event = [d for d in log if d["event_id"] == firsts[0]["event_id"]]
        waits = [
            datetime.fromisoformat(b["attempted_at"]) - datetime.fromisoformat(a["attempted_at"])
            for a, b in zip(first_event, first_event[1:], strict=False)
        ]
        assert waits == sorted(waits) and waits[0] == timedelta(minutes=10) and max(waits) == timedelta(hours=4)
        assert datetime.fromisoformat(given_up[0]["attempted_at"]) - start >= timedelta(hours=24)
        assert first_event[-1]["outcome"] == "failed"
        # The next event starts when the first is given up, in order.
        assert titles(receiver)[len(first_event)] == "Second"
        # After 3 days of failures: disabled, and it says so.
        assert shown["enabled"] is False
        assert shown["disabled_reason"] == "every delivery failed for 3 days"
        disabled_at = datetime.fromisoformat(shown["disabled_at"])
        assert timedelta(days=3) <= disabled_at - start < timedelta(days=3, hours=5)
        assert "Fourth" not in titles(receiver)
        assert (await deliver()).fanned_out == 0


class TestIsolation:
    async def test_a_slow_endpoint_does_not_delay_a_healthy_one(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer,
    ) -> None:
        settings = deliver.settings.model_copy(update={"webhook_timeout_seconds": 3.0})
        async with Receiver(lambda _path, _n: Answer(delay=10)) as slow, Receiver() as healthy:
            await create_endpoint(hooks_client, admin, slow.url())
            await create_endpoint(hooks_client, admin, healthy.url())
            await publish(hooks_client, writer, author, "Chips rally")
            started = time.monotonic()
            report = await deliver(concurrency=2, settings=settings)
            finished = time.monotonic()
        assert (report.delivered, report.retried) == (1, 1)
        assert finished - started >= 3  # the slow one held its task until the timeout
        # The healthy one was served while the slow one was still being waited for.
        assert healthy.received[0].at < slow.received[0].at + 2.5

    async def test_watch_keeps_delivering_until_stopped(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer,
    ) -> None:
        stop = asyncio.Event()
        async with Receiver() as receiver:
            await create_endpoint(hooks_client, admin, receiver.url())
            await publish(hooks_client, writer, author, "Chips rally")
            # The API and the deliverer share the test's one connection: no request while it runs.
            running = asyncio.create_task(deliver(watch=0.05, stop=stop))
            await asyncio.wait_for(receiver.arrived.wait(), timeout=5)
            await asyncio.sleep(0.2)  # a few more rounds, with nothing to do
            assert not running.done()
            stop.set()
            report = await asyncio.wait_for(running, timeout=5)
        assert report.delivered == 1

    async def test_a_notification_that_the_log_moved_sends_at_once_not_at_the_next_look(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer,
    ) -> None:
        stop, wake = asyncio.Event(), asyncio.Event()
        async with Receiver() as receiver:
            await create_endpoint(hooks_client, admin, receiver.url())
            running = asyncio.create_task(deliver(watch=60, stop=stop, wake=wake))
            # Its first look (two short transactions) found nothing; it now waits a minute
            # unless told, using no connection meanwhile, so the API may have the test's one.
            await asyncio.sleep(1)
            await publish(hooks_client, writer, author, "Chips rally")
            await asyncio.sleep(0.5)
            assert not receiver.received

            wake.set()

            await asyncio.wait_for(receiver.arrived.wait(), timeout=5)
            stop.set()
            await asyncio.wait_for(running, timeout=5)
        assert titles(receiver) == ["Chips rally"]


class TestTargetsAtDelivery:
    @pytest.mark.parametrize(("address", "allow_private"), [("127.0.0.1", False), ("169.254.169.254", True), ("10.0.0.7", True)])
    async def test_a_name_that_now_points_at_a_private_address_is_refused(
        self, hooks_client: httpx.AsyncClient, hooks_app: Any, admin: dict[str, str], writer: dict[str, str],
        author: Author, deliver: Deliverer, address: str, allow_private: bool,
    ) -> None:
        async with Receiver() as receiver:
            async def at_creation(host: str, port: int) -> list[str]:
                return ["127.0.0.1"]

            async def later(host: str, port: int) -> list[str]:
                return [address]

            hooks_app.state.webhook_resolver = at_creation
            endpoint = await create_endpoint(hooks_client, admin, f"http://hooks.partner.test:{receiver.port}/in")
            await publish(hooks_client, writer, author, "Chips rally")
            deliver.resolver = later
            settings = deliver.settings.model_copy(update={"webhooks_allow_private_targets": allow_private})
            await deliver(settings=settings)
        assert receiver.received == []
        [attempt] = await deliveries(hooks_client, admin, endpoint)
        expected = "refused: the URL must be an https:// URL" if not allow_private else (
            f"refused: the URL resolves to {address}, which is not a public address"
        )
        assert (attempt["outcome"], attempt["status_code"], attempt["error"]) == ("retrying", None, expected)

    async def test_connects_to_the_address_it_checked_with_the_name_as_host(
        self, hooks_client: httpx.AsyncClient, hooks_app: Any, admin: dict[str, str], deliver: Deliverer
    ) -> None:
        async def resolver(host: str, port: int) -> list[str]:
            assert host == "hooks.partner.test"
            return ["127.0.0.1"]

        hooks_app.state.webhook_resolver = deliver.resolver = resolver
        async with Receiver() as receiver:
            endpoint = await create_endpoint(hooks_client, admin, f"http://hooks.partner.test:{receiver.port}/in")
            await hooks_client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=admin)
            await deliver()
            port = receiver.port
        [request] = receiver.received
        assert request.headers["host"] == f"hooks.partner.test:{port}"
        assert verified(endpoint, request)["type"] == "webhook.test"

    async def test_a_loopback_literal_is_refused_at_delivery_without_the_setting(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], deliver: Deliverer
    ) -> None:
        async with Receiver() as receiver:
            endpoint = await create_endpoint(hooks_client, admin, receiver.url().replace("http:", "https:"))
            await hooks_client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=admin)
            await deliver(settings=deliver.settings.model_copy(update={"webhooks_allow_private_targets": False}))
        assert receiver.received == []
        [attempt] = await deliveries(hooks_client, admin, endpoint)
        assert attempt["error"] == "refused: the URL resolves to 127.0.0.1, which is not a public address"


class TestResponses:
    async def test_a_redirect_is_not_followed(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], deliver: Deliverer
    ) -> None:
        async with Receiver() as receiver:
            moved = Answer(status=307, headers={"location": receiver.url("/elsewhere")})
            receiver.script = lambda path, _n: moved if path == "/hook" else OK
            endpoint = await create_endpoint(hooks_client, admin, receiver.url())
            await hooks_client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=admin)
            report = await deliver()
        assert receiver.to("/elsewhere") == [] and len(receiver.to("/hook")) == 1
        [attempt] = await deliveries(hooks_client, admin, endpoint)
        assert (attempt["status_code"], attempt["error"], attempt["outcome"]) == (307, "redirect (307) not followed", "retrying")
        assert report.retried == 1

    async def test_an_endless_response_is_read_up_to_the_cap(
        self, hooks_client: httpx.AsyncClient, admin: dict[str, str], deliver: Deliverer
    ) -> None:
        async with Receiver(lambda _path, _n: Answer(status=200, endless=True)) as receiver:
            endpoint = await create_endpoint(hooks_client, admin, receiver.url())
            await hooks_client.post(f"/v1/webhooks/{endpoint['id']}/test", headers=admin)
            report = await deliver()
        [attempt] = await deliveries(hooks_client, admin, endpoint)
        assert (report.delivered, attempt["status_code"], attempt["error"]) == (1, 200, None)
        assert attempt["duration_ms"] < 1000  # well inside the timeout: it stopped reading
