"""`GET /metrics` (issue 13, item 3): exact increments and label sets after real requests.

Counters live in the process's default registry for the whole run, so each test compares
two scrapes and asserts what changed between them.
"""

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from tests.conftest import like
from tests.mail_fixtures import app as mail_app, deliver, mail_settings, smtp  # noqa: F401  (fixtures)
from tests.test_shared_cache import article, cache_settings, cached, cached_app  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def this_process() -> Samples:
    """The registry of this process, read without a request."""
    return parse(generate_latest(REGISTRY).decode())


async def scrape(client: httpx.AsyncClient, **options: Any) -> Samples:
    response = await client.get("/metrics", **options)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def changes(before: Samples, after: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """What moved in the series of `name` between two scrapes, by label set."""
    moved = {}
    for (sample, labels), value in after.items():
        if sample == name and value != before.get((sample, labels), 0):
            moved[labels] = value - before.get((sample, labels), 0)
    return moved


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def route_values(samples: Samples) -> set[str]:
    return {dict(label_set)["route"] for name, label_set in samples if name == "tickerfeed_http_requests_total"}


class TestRequestMetrics:
    async def test_counts_requests_by_route_template_method_and_status(self, client):
        before = await scrape(client)
        await client.get("/v1/articles")
        await client.get("/v1/articles")
        await client.get("/v1/articles/no-such-article")
        await client.head("/v1/articles")
        await client.get("/healthz")
        after = await scrape(client)

        assert changes(before, after, "tickerfeed_http_requests_total") == {
            labels(route="/v1/articles", method="GET", status="200"): 2,
            labels(route="/v1/articles/{slug}", method="GET", status="404"): 1,
            labels(route="/v1/articles", method="HEAD", status="200"): 1,
            labels(route="/healthz", method="GET", status="200"): 1,
            labels(route="/metrics", method="GET", status="200"): 1,  # the first scrape
        }
        assert changes(before, after, "tickerfeed_http_request_duration_seconds_count") == {
            labels(route="/v1/articles", method="GET"): 2,
            labels(route="/v1/articles/{slug}", method="GET"): 1,
            labels(route="/v1/articles", method="HEAD"): 1,
            labels(route="/healthz", method="GET"): 1,
            labels(route="/metrics", method="GET"): 1,
        }

    async def test_a_random_path_adds_no_label_value(self, client):
        await client.get("/never-seen-before")
        before = await scrape(client)
        path = f"/{uuid.uuid4().hex}"
        assert (await client.get(path)).status_code == 404
        assert (await client.request("BREW", f"/{uuid.uuid4().hex}")).status_code in {404, 405}
        after = await scrape(client)

        assert changes(before, after, "tickerfeed_http_requests_total") == {
            labels(route="unmatched", method="GET", status="404"): 1,
            labels(route="unmatched", method="other", status="404"): 1,
            labels(route="/metrics", method="GET", status="200"): 1,
        }
        assert route_values(after) == route_values(before)
        assert not any(path in dict(label_set).values() for _, label_set in after)

    async def test_a_request_refused_before_routing_is_counted_by_its_route(self, client):
        before = await scrape(client)
        too_long = await client.get("/v1/articles", params={"q": "x" * 5000})
        after = await scrape(client)

        assert too_long.status_code == 414
        assert changes(before, after, "tickerfeed_http_requests_total")[
            labels(route="/v1/articles", method="GET", status="414")
        ] == 1

    async def test_counts_a_500(self, client, monkeypatch):
        from app.operations import Health

        def broken(**_: Any) -> Any:
            raise RuntimeError("boom")

        before = await scrape(client)
        monkeypatch.setattr("app.operations.Health", broken)
        assert (await client.get("/healthz")).status_code == 500
        monkeypatch.setattr("app.operations.Health", Health)
        after = await scrape(client)

        assert changes(before, after, "tickerfeed_http_requests_total")[
            labels(route="/healthz", method="GET", status="500")
        ] == 1


class TestRateLimitMetrics:
    async def test_counts_refusals_by_limit(self, app, settings):
        limited = like(create_app(settings.model_copy(update={"rate_limit_search_per_client": "1/minute"})), app)
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            before = await scrape(client)
            assert (await client.get("/v1/articles", params={"q": "chips"})).status_code == 200
            assert (await client.get("/v1/articles", params={"q": "chips"})).status_code == 429
            after = await scrape(client)

        assert changes(before, after, "tickerfeed_rate_limit_refusals_total") == {labels(limit="search:client"): 1}


class TestOutboxMetrics:
    async def test_depth_age_and_deliveries_of_the_mail_outbox(self, mail_app, session, clock):  # noqa: F811
        from tests.subscriber_factories import create_newsletter

        mail_app.state.settings = mail_app.state.settings.model_copy(update={"send_mail_on_request": False})
        await create_newsletter(session, slug="daily", name="Daily")
        transport = httpx.ASGITransport(app=mail_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for email in ("one.metrics@example.com", "two.metrics@example.com"):
                body = {"email": email, "newsletters": ["daily"]}
                assert (await client.post("/v1/subscriptions", json=body)).status_code == 202
            clock.now += timedelta(seconds=90)
            waiting = await scrape(client)
            await deliver(mail_app, clock)
            delivered = await scrape(client)

        assert waiting[("tickerfeed_outbox_depth", labels(kind="mail"))] == 2
        assert waiting[("tickerfeed_outbox_oldest_age_seconds", labels(kind="mail"))] == pytest.approx(90, abs=1)
        assert delivered[("tickerfeed_outbox_depth", labels(kind="mail"))] == 0
        assert delivered[("tickerfeed_outbox_oldest_age_seconds", labels(kind="mail"))] == 0
        assert changes(waiting, delivered, "tickerfeed_outbox_deliveries_total") == {labels(kind="mail", outcome="sent"): 2}


    async def test_a_scrape_without_the_database_still_counts_requests(self, settings, tmp_path):
        from tests.test_operations import unreachable_database_urls

        offline = create_app(settings.model_copy(update={"database_url": unreachable_database_urls(tmp_path)[0]}))
        async with offline.router.lifespan_context(offline):
            transport = httpx.ASGITransport(app=offline)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                await client.get("/healthz")
                samples = await scrape(client)

        assert not any(name.startswith("tickerfeed_outbox") and "depth" in name for name, _ in samples)
        assert samples[("tickerfeed_http_requests_total", labels(route="/healthz", method="GET", status="200"))] >= 1


class TestSharedCacheMetrics:
    async def test_counts_hits_and_misses(self, cached, article):  # noqa: F811
        before = await scrape(cached)
        await cached.get("/v1/articles")
        await cached.get("/v1/articles")
        after = await scrape(cached)

        # The scrape itself is looked up too (and never stored): one more miss.
        assert changes(before, after, "tickerfeed_shared_cache_lookups_total") == {
            labels(outcome="miss"): 2, labels(outcome="hit"): 1,
        }
        assert changes(before, after, "tickerfeed_http_requests_total")[
            labels(route="/v1/articles", method="GET", status="200")
        ] == 2

    async def test_counts_errors_when_redis_does_not_answer(self, app, cache_settings):  # noqa: F811
        from tests.mail_fixtures import free_port

        unreachable = cache_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
        broken = like(create_app(unreachable), app)
        transport = httpx.ASGITransport(app=broken)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            before = this_process()
            assert (await client.get("/v1/tags")).status_code == 200
            assert (await client.get("/v1/tags")).status_code == 200
            after = this_process()
        await broken.state.content_cache.close()

        # The first look-up fails; the next goes around Redis until it is worth trying again.
        assert changes(before, after, "tickerfeed_shared_cache_errors_total") == {labels(operation="look-up"): 1}
        assert changes(before, after, "tickerfeed_shared_cache_lookups_total") == {
            labels(outcome="error"): 1, labels(outcome="unavailable"): 1,
        }


class TestAccess:
    async def test_a_metrics_token_is_required_when_set(self, app, settings):
        guarded = like(create_app(settings.model_copy(update={"metrics_token": "scrape-me"})), app)
        transport = httpx.ASGITransport(app=guarded)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            refused = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            await scrape(client, headers={"Authorization": "Bearer scrape-me"})

        assert (refused.status_code, wrong.status_code) == (401, 401)
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert refused.headers["content-type"] == "application/problem+json"

    async def test_with_a_metrics_port_it_answers_there_only(self, app, settings):
        separate = like(create_app(settings.model_copy(update={"metrics_port": 9464})), app)
        transport = httpx.ASGITransport(app=separate)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            on_the_api = await client.get("/metrics")
            on_its_port = await client.get("http://testserver:9464/metrics")

        assert on_the_api.status_code == 404
        assert on_its_port.status_code == 200

    async def test_is_not_in_the_openapi_document(self, client):
        assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


COUNT_IN_A_PROCESS = """
import sys
from app.metrics import count_request
for _ in range(int(sys.argv[1])):
    count_request("/v1/articles", "GET", 200, 0.02)
"""


class TestMultiProcess:
    async def test_a_scrape_adds_up_every_process(self, tmp_path: Path):
        environment = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
        for times in (3, 4):
            subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS, str(times)], env=environment, check=True, timeout=60)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(tmp_path))
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in registry.collect()
            for sample in family.samples
        }

        assert len(list(tmp_path.glob("counter_*.db"))) == 2
        assert samples[("tickerfeed_http_requests_total", labels(route="/v1/articles", method="GET", status="200"))] == 7
        assert samples[("tickerfeed_http_request_duration_seconds_count", labels(route="/v1/articles", method="GET"))] == 7
