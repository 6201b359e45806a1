"""Issue 10 item 2: what a client sends cannot add entries to the shared cache beyond one
per page, and no amount of cached responses can evict a rate-limit counter."""

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.caching.shared import CachedResponse, SharedCache
from app.caching.state import ContentState
from app.settings import Settings
from bench.server import free_port
from tests import factories
from tests.conftest import Clock
from tests.helpers import counted_statements
from tests.mail_fixtures import SmtpServer, build_app, mail_settings
from tests.subscriber_factories import create_newsletter, subscribe
from tests.test_shared_cache import process, stored_responses

pytestmark = pytest.mark.asyncio

# The rate limiter's own server in these tests: the suite's Redis, which never evicts.
RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:6379/3"


class TestOneEntryPerPage:
    async def test_spellings_of_one_page_share_one_entry(
        self, cached: httpx.AsyncClient, article: Any, cache_settings: Settings
    ) -> None:
        first = await cached.get("/v1/articles?limit=5&author_kind=human")
        assert first.status_code == 200
        for query in ("author_kind=human&limit=5", "limit=%35&author_kind=human", "author_kind=hum%61n&limit=5"):
            again = await cached.get(f"/v1/articles?{query}")
            assert again.content == first.content, query
            assert again.headers["etag"] == first.headers["etag"], query
        assert await stored_responses(cache_settings) == 1

    async def test_repeated_and_respelled_values_are_answered_but_not_stored(
        self, cached: httpx.AsyncClient, article: Any, cache_settings: Settings
    ) -> None:
        for query in ("limit=100&limit=100", "limit=1%30%30&limit=100", "limit=0100", "limit=+100",
                      "ticker=nvda", "ticker=NVDA&ticker=NVDA"):
            response = await cached.get(f"/v1/articles?{query}")
            assert response.status_code == 200, query
            assert response.json()["items"][0]["slug"] == article.slug, query
        assert await stored_responses(cache_settings) == 0
        await cached.get("/v1/articles?limit=100")
        await cached.get("/v1/tickers/nvda")
        assert await stored_responses(cache_settings) == 1

    async def test_open_ended_values_are_answered_but_not_stored(
        self, cached: httpx.AsyncClient, session: AsyncSession, article: Any, cache_settings: Settings
    ) -> None:
        newsletter = await create_newsletter(session)
        paths = [
            *(f"/v1/articles?limit=100&since=2020-01-01T00:00:00.00000{n}Z" for n in range(1, 4)),
            "/v1/articles?until=2999-01-01T00:00:00Z",
            "/v1/tickers?q=nv",
            f"/v1/newsletters/{newsletter.slug}/editions/2020-01-01",
            f"/v1/newsletters/{newsletter.slug}/editions/2020-01-02",
        ]
        for path in paths:
            assert (await cached.get(path)).status_code == 200, path
        assert await stored_responses(cache_settings) == 0


class TestSearches:
    """Searches repeat (a market's names, its news words), so they are stored, but in one
    spelling each and in a pool of a bounded number of entries."""

    async def test_a_search_is_stored_in_one_spelling(
        self, cached: httpx.AsyncClient, engine: AsyncEngine, article: Any, cache_settings: Settings
    ) -> None:
        for query in ("q=Nvidia%20Earnings", "q=nvidia%20%20earnings", "q=%20nvidia%20earnings"):
            assert (await cached.get(f"/v1/articles?{query}")).status_code == 200, query
        assert await stored_responses(cache_settings) == 0
        first = await cached.get("/v1/articles?q=nvidia%20earnings")
        assert await stored_responses(cache_settings) == 1
        with counted_statements(engine) as statements:
            again = await cached.get("/v1/articles?q=nvidia+earnings")
        assert statements == [] and again.content == first.content

    async def test_the_pool_holds_at_most_its_size_the_newest_staying(
        self, cache_settings: Settings, app: Any, engine: AsyncEngine, article: Any
    ) -> None:
        pooled = process(cache_settings.model_copy(update={"shared_cache_free_text_entries": 2}), app)
        words = ["alpha", "beta", "gamma", "delta"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=pooled), base_url="http://testserver") as client:
            for word in words:
                assert (await client.get(f"/v1/articles?q={word}")).status_code == 200
            assert await stored_responses(cache_settings) == 2
            for word, stored in zip(reversed(words), [True, True, False, False], strict=True):
                with counted_statements(engine) as statements:
                    assert (await client.get(f"/v1/articles?q={word}")).status_code == 200
                assert (statements == []) is stored, word
            # Answering the two oldest again stored them in turn, each pushing out the oldest.
            assert await stored_responses(cache_settings) == 2
        await pooled.state.content_cache.close()


class TestHostHeader:
    async def test_other_hosts_share_the_one_entry_and_never_reach_it(
        self, cached: httpx.AsyncClient, article: Any, cache_settings: Settings
    ) -> None:
        answers = [(await cached.get("/v1", headers={"Host": host})) for host in ("evil.example", "evil.example:8080", "TESTSERVER")]
        ours = await cached.get("/v1")
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert "evil.example" not in answers[0].text
        assert {answer.text for answer in answers} == {ours.text}
        assert await stored_responses(cache_settings) == 1


class TestEntrySize:
    async def test_a_response_over_the_size_cap_is_answered_but_not_stored(
        self, cache_settings: Settings, app: Any, article: Any
    ) -> None:
        small = process(cache_settings.model_copy(update={"shared_cache_max_response_bytes": 512}), app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://testserver") as client:
            response = await client.get("/v1/articles")
        await small.state.content_cache.close()
        assert response.status_code == 200
        assert len(response.content) > 512
        assert await stored_responses(cache_settings) == 0


@pytest.fixture
def capped_redis_url() -> Iterator[str]:
    """A Redis of this test's own with a small memory cap, evicting as the cache server in
    docker-compose.yml does: the suite's shared Redis must not be capped."""
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (CI starts the suite's Redis with it)"
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest_asyncio.fixture
async def limited_prefix() -> AsyncIterator[str]:
    prefix = f"tickerfeed-test-{uuid.uuid4().hex}"
    yield prefix
    redis = Redis.from_url(RATE_LIMIT_REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
def limited_app(
    cache_settings: Settings, capped_redis_url: str, limited_prefix: str, smtp: SmtpServer,
    engine: Any, connection: Any, sessionmaker: Any, clock: Clock,
) -> Any:
    """One subscribe per address an hour; the cache on the capped server, the limits on their own."""
    settings = mail_settings(
        cache_settings, smtp, redis_url=capped_redis_url, rate_limit_redis_url=RATE_LIMIT_REDIS_URL,
        rate_limit_prefix=limited_prefix, rate_limit_subscribe_per_email="1/hour", send_mail_on_request=False,
        public_api_url="http://testserver",
    )
    return build_app(settings, engine, connection, sessionmaker, clock)


async def evicted_keys(url: str) -> int:
    redis = Redis.from_url(url)
    try:
        return int((await redis.info("stats"))["evicted_keys"])
    finally:
        await redis.aclose()


class TestRateLimitsOutliveCachePressure:
    async def test_since_variants_do_not_lift_a_subscribe_limit(
        self, limited_app: Any, session: AsyncSession, clock: Clock,
    ) -> None:
        await create_newsletter(session, slug="daily", name="Daily")
        author = await factories.create_author(session)
        for n in range(100):
            await factories.create_article(session, author=author, now=clock.now, dek="Numbers. " * 53)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app), base_url="http://testserver") as client:
            assert (await subscribe(client, "target@example.com")).status_code == 202
            assert (await subscribe(client, "target@example.com")).status_code == 429
            for n in range(1, 61):
                page = await client.get(f"/v1/articles?limit=100&since=2020-01-01T00:00:00.{n:06d}Z")
                assert page.status_code == 200
            assert (await subscribe(client, "target@example.com")).status_code == 429
        await limited_app.state.content_cache.close()

    async def test_a_full_cache_evicts_responses_never_rate_limit_counters(
        self, limited_app: Any, session: AsyncSession, capped_redis_url: str,
    ) -> None:
        await create_newsletter(session, slug="daily", name="Daily")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app), base_url="http://testserver") as client:
            assert (await subscribe(client, "target@example.com")).status_code == 202
            assert (await subscribe(client, "target@example.com")).status_code == 429
            cache: SharedCache = limited_app.state.content_cache.shared
            state = ContentState(versions=(("all", 1),), changed_at=None)
            for n in range(40):
                await cache.store(f"page {n}", state, CachedResponse(headers=[], body=b"x" * 100_000))
            assert await evicted_keys(capped_redis_url) > 0
            assert (await subscribe(client, "target@example.com")).status_code == 429
        await limited_app.state.content_cache.close()
