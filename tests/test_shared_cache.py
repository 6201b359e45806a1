"""The shared response cache in Redis: hits, invalidation of what a write changed, across processes."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.caching.shared import CachedResponse, SharedCache
from app.caching.state import ContentState
from app.main import create_app
from app.models import Article
from app.settings import Settings
from tests import factories
from tests.conftest import Clock, like
from tests.helpers import counted_statements

pytestmark = pytest.mark.asyncio

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest_asyncio.fixture
async def cache_settings(settings: Settings) -> AsyncIterator[Settings]:
    """The test settings with the shared cache on, under a prefix of this test's own."""
    prefix = f"tickerfeed-test:{uuid.uuid4().hex}"
    yield settings.model_copy(
        update={"redis_url": REDIS_URL, "shared_cache_prefix": prefix, "public_api_url": "http://testserver"}
    )
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def process(cache_settings: Settings, app: Any) -> Any:
    """Another API process: its own app and Redis client, the same database and Redis."""
    return like(create_app(cache_settings), app)


@pytest_asyncio.fixture
async def cached_app(cache_settings: Settings, app: Any) -> AsyncIterator[Any]:
    """An API process with the shared cache on."""
    cached_app = process(cache_settings, app)
    yield cached_app
    await cached_app.state.content_cache.close()


@pytest_asyncio.fixture
async def cached(cached_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `cached_app`."""
    transport = httpx.ASGITransport(app=cached_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest_asyncio.fixture
async def article(session: AsyncSession, clock: Clock) -> Any:
    ticker = await factories.create_ticker(session, "NVDA")
    author = await factories.create_author(session)
    return await factories.create_article(session, author=author, now=clock.now, tickers=[ticker.symbol])


async def stored_responses(cache_settings: Settings) -> int:
    redis = Redis.from_url(REDIS_URL)
    try:
        return len([key async for key in redis.scan_iter(f"{cache_settings.shared_cache_prefix}:*:response:*")])
    finally:
        await redis.aclose()


async def retitle_behind_the_api(session: AsyncSession, article: Any, title: str) -> None:
    """A Core UPDATE skips the content-version listener: the cache cannot know of it."""
    await session.exec(update(Article).where(Article.id == article.id).values(title=title))  # type: ignore[call-overload, arg-type]
    await session.commit()


class TestHits:
    async def test_a_second_read_comes_from_redis(
        self, cached: httpx.AsyncClient, session: AsyncSession, article: Any, cache_settings: Settings
    ) -> None:
        first = await cached.get("/v1/articles")
        assert first.status_code == 200
        assert await stored_responses(cache_settings) == 1
        await retitle_behind_the_api(session, article, "Changed behind the API")

        second = await cached.get("/v1/articles")
        assert second.content == first.content
        assert second.headers["etag"] == first.headers["etag"]
        assert second.headers["x-request-id"] != first.headers["x-request-id"]

    async def test_a_hit_answers_304_to_its_etag_and_head_without_body(
        self, cached: httpx.AsyncClient, article: Any
    ) -> None:
        path = f"/v1/articles/{article.slug}"
        first = await cached.get(path)
        again = await cached.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        for header in ("etag", "cache-control", "last-modified", "vary"):
            assert again.headers[header] == first.headers[header], header
        head = await cached.head(path)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == first.headers["etag"]
        assert head.headers["content-length"] == first.headers["content-length"]

    async def test_cors_headers_are_added_to_hits(self, cached: httpx.AsyncClient, article: Any) -> None:
        origin = {"Origin": "https://app.example"}
        await cached.get("/v1/articles", headers=origin)
        hit = await cached.get("/v1/articles", headers=origin)
        assert hit.headers["access-control-allow-origin"] == "https://app.example"
        other = await cached.get("/v1/articles", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers

    async def test_problems_and_keyed_reads_are_never_stored(
        self, cached: httpx.AsyncClient, writer: dict[str, str], article: Any, cache_settings: Settings
    ) -> None:
        missing = await cached.get("/v1/articles/no-such-article")
        assert missing.status_code == 404
        invalid = await cached.get("/v1/articles?limit=0")
        assert invalid.status_code == 422
        keyed = await cached.get("/v1/articles", headers=writer)
        assert keyed.status_code == 200
        assert keyed.headers["cache-control"] == "private, no-store"
        assert await stored_responses(cache_settings) == 0


    async def test_a_hit_reads_nothing_from_the_database(
        self, cached: httpx.AsyncClient, engine: AsyncEngine, article: Any
    ) -> None:
        await cached.get("/v1/articles")
        with counted_statements(engine) as statements:
            assert (await cached.get("/v1/articles")).status_code == 200
            assert (await cached.get("/v1/articles", headers={"If-None-Match": "W/\"x\""})).status_code == 200
        assert statements == []

    async def test_concurrent_misses_for_one_page_render_it_once(
        self, cached: httpx.AsyncClient, engine: AsyncEngine, article: Any
    ) -> None:
        await cached.get("/v1/articles?limit=5")  # the content state is stored; this page is not
        with counted_statements(engine) as statements:
            pages = await asyncio.gather(*[cached.get("/v1/articles") for _ in range(5)])
        assert {page.status_code for page in pages} == {200}
        assert len({page.content for page in pages}) == 1
        feed_queries = [statement for statement in statements if "LIMIT" in statement.upper()]
        assert len(feed_queries) == 1, statements


    async def test_a_key_holder_is_never_served_the_public_page(
        self, cached: httpx.AsyncClient, session: AsyncSession, clock: Clock, article: Any, writer: dict[str, str]
    ) -> None:
        draft = await factories.create_article(session, author=article.author, now=clock.now, status="draft", published_ago=None)
        await cached.get("/v1/articles")
        await cached.get("/v1/articles")
        wrong = await cached.get("/v1/articles", headers={"Authorization": "Bearer tfk_not-a-key"})
        assert wrong.status_code == 401
        assert (await cached.get("/v1/articles", headers=writer)).headers["cache-control"] == "private, no-store"
        editor = await cached.get(f"/v1/articles/{draft.slug}", headers=writer)
        assert editor.status_code == 200
        assert editor.headers["cache-control"] == "private, no-store"
        assert (await cached.get(f"/v1/articles/{draft.slug}")).status_code == 404

    async def test_unknown_query_parameters_are_answered_but_not_stored(
        self, cached: httpx.AsyncClient, article: Any, cache_settings: Settings
    ) -> None:
        response = await cached.get("/v1/articles?utm_source=x")
        assert response.status_code == 200
        assert await stored_responses(cache_settings) == 0
        await cached.get("/v1/articles?limit=5")
        assert await stored_responses(cache_settings) == 1

    async def test_per_request_headers_are_not_stored(
        self, cached: httpx.AsyncClient, article: Any, cache_settings: Settings
    ) -> None:
        await cached.get("/v1/articles", headers={"Origin": "https://app.example", "X-Request-ID": "abc123"})
        redis = Redis.from_url(REDIS_URL)
        stored = [await redis.get(key) async for key in redis.scan_iter(f"{cache_settings.shared_cache_prefix}:*:response:*")]
        await redis.aclose()
        assert len(stored) == 1
        head = stored[0].lower()
        for header in (b"x-request-id", b"abc123", b"access-control-allow-origin", b"origin"):
            assert header not in head.split(b'"items"')[0], header

    async def test_a_head_first_stores_the_whole_body(
        self, cached: httpx.AsyncClient, engine: AsyncEngine, article: Any
    ) -> None:
        assert (await cached.head("/v1/articles")).content == b""
        with counted_statements(engine) as statements:
            body = await cached.get("/v1/articles")
        assert statements == []
        assert body.json()["items"][0]["slug"] == article.slug


class TestInvalidation:
    async def test_a_write_through_the_api_is_served_at_once(
        self, cached: httpx.AsyncClient, article: Any, writer: dict[str, str]
    ) -> None:
        before = await cached.get("/v1/articles")
        changed = await cached.patch(f"/v1/articles/{article.slug}", json={"title": "Guidance raised"}, headers=writer)
        assert changed.status_code == 200
        after = await cached.get("/v1/articles")
        assert after.json()["items"][0]["title"] == "Guidance raised"
        assert after.headers["etag"] != before.headers["etag"]
        revalidated = await cached.get("/v1/articles", headers={"If-None-Match": before.headers["etag"]})
        assert revalidated.status_code == 200

    async def test_a_write_through_one_process_is_served_by_every_other(
        self, cache_settings: Settings, app: Any, cached: httpx.AsyncClient, article: Any, writer: dict[str, str]
    ) -> None:
        path = f"/v1/articles/{article.slug}"
        assert (await cached.get(path)).json()["title"] == article.title
        other = process(cache_settings, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://testserver") as second:
            changed = await second.patch(path, json={"title": "Written elsewhere"}, headers=writer)
            assert changed.status_code == 200
        await other.state.content_cache.close()
        assert (await cached.get(path)).json()["title"] == "Written elsewhere"

    async def test_a_scheduled_article_appears_when_its_time_comes(
        self, cached: httpx.AsyncClient, session: AsyncSession, clock: Clock, article: Any
    ) -> None:
        scheduled = await factories.create_article(
            session, author=article.author, now=clock.now, published_ago=-timedelta(seconds=1)
        )
        slugs = [item["slug"] for item in (await cached.get("/v1/articles")).json()["items"]]
        assert scheduled.slug not in slugs
        assert (await cached.get("/v1/articles")).json()["items"][0]["slug"] == article.slug

        # Sooner than the state's refresh: only its due time can bring the article in.
        clock.now += timedelta(seconds=2)
        slugs = [item["slug"] for item in (await cached.get("/v1/articles")).json()["items"]]
        assert slugs[0] == scheduled.slug

    async def test_a_write_outside_the_api_shows_after_the_next_refresh(
        self, cached_app: Any, cached: httpx.AsyncClient, session: AsyncSession, clock: Clock, article: Any
    ) -> None:
        await cached.get("/v1/articles")
        # The CLI's and the tests' sessions bump their keys but cannot tell Redis.
        newer = await factories.create_article(session, author=article.author, now=clock.now, published_ago=timedelta(0))
        assert (await cached.get("/v1/articles")).json()["items"][0]["slug"] == article.slug

        await cached_app.state.content_cache.refresh_once(cached_app.state.reads, now=clock.now)
        assert (await cached.get("/v1/articles")).json()["items"][0]["slug"] == newer.slug
        assert (await cached.get("/v1/articles")).json()["items"][0]["slug"] == newer.slug

    async def test_a_write_retires_only_what_it_changed(
        self, cached: httpx.AsyncClient, session: AsyncSession, clock: Clock, engine: AsyncEngine,
        article: Any, writer: dict[str, str],
    ) -> None:
        other_ticker = await factories.create_ticker(session, "AMD")
        other_author = await factories.create_author(session, slug="other-author", name="Other Author")
        other = await factories.create_article(session, author=other_author, now=clock.now, tickers=["AMD"])
        untouched = [f"/v1/articles/{other.slug}", f"/v1/tickers/{other_ticker.symbol}/articles",
                     f"/feeds/tickers/{other_ticker.symbol}.rss", "/v1/authors", "/v1/tickers"]
        touched = [f"/v1/articles/{article.slug}", "/v1/tickers/NVDA/articles", "/v1/articles", "/feeds/articles.atom"]
        for path in untouched + touched:
            assert (await cached.get(path)).status_code == 200, path

        edited = await cached.patch(f"/v1/articles/{article.slug}", json={"title": "Guidance raised"}, headers=writer)
        assert edited.status_code == 200

        with counted_statements(engine) as statements:
            for path in untouched:
                assert (await cached.get(path)).status_code == 200, path
        assert statements == []
        for path in touched:
            assert "Guidance raised" in (await cached.get(path)).text, path

    async def test_a_publish_shows_on_its_lists_at_once_and_leaves_other_lists_cached(
        self, cached: httpx.AsyncClient, session: AsyncSession, clock: Clock, engine: AsyncEngine,
        article: Any, writer: dict[str, str],
    ) -> None:
        await factories.create_ticker(session, "AMD")
        for path in ("/v1/articles", "/v1/tickers/NVDA/articles", "/v1/tickers/AMD/articles"):
            await cached.get(path)
        published = await cached.post("/v1/articles", headers=writer, json={
            "title": "Nvidia beats", "body_markdown": "Numbers.", "author": article.author.slug,
            "tickers": ["NVDA"], "status": "published",
        })
        assert published.status_code == 201
        slug = published.json()["slug"]
        for path in ("/v1/articles", "/v1/tickers/NVDA/articles"):
            assert (await cached.get(path)).json()["items"][0]["slug"] == slug, path
        with counted_statements(engine) as statements:
            assert (await cached.get("/v1/tickers/AMD/articles")).status_code == 200
        assert statements == []


class TestUnavailable:
    async def test_a_write_that_cannot_reach_redis_is_refused_and_not_saved(
        self, settings: Settings, app: Any, client: httpx.AsyncClient, article: Any, writer: dict[str, str]
    ) -> None:
        unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
        lonely = process(unreachable, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lonely), base_url="http://testserver") as other:
            refused = await other.patch(f"/v1/articles/{article.slug}", json={"title": "Never saved"}, headers=writer)
        await lonely.state.content_cache.close()
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "5"
        assert (await client.get(f"/v1/articles/{article.slug}")).json()["title"] == article.title

    async def test_a_redis_that_never_answers_costs_one_timeout(
        self, settings: Settings, app: Any, article: Any, writer: dict[str, str]
    ) -> None:
        async def silent(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        hung = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0", "shared_cache_timeout_seconds": 0.2})
        slow = process(hung, app)
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url="http://testserver") as client:
            started = loop.time()
            for _ in range(3):
                assert (await client.get("/v1/articles")).status_code == 200
            # One look-up times out; the process then reads around Redis.
            assert loop.time() - started < 1.0
            refused = await client.patch(f"/v1/articles/{article.slug}", json={"title": "Never saved"}, headers=writer)
            assert refused.status_code == 503
        server.close()
        await slow.state.content_cache.close()


class TestState:
    async def test_a_version_read_before_a_write_committed_is_refused(self, cache_settings: Settings) -> None:
        cache = SharedCache.from_settings(cache_settings)
        assert cache is not None
        redis = Redis.from_url(REDIS_URL)
        await cache.before_commit({"articles": 8})
        await cache.offer({"articles": 7})
        assert await redis.get(cache.key_prefix + "articles") == b""
        await cache.after_commit({"articles": 8})
        await cache.offer({"articles": 7})
        assert await redis.get(cache.key_prefix + "articles") == b"8"
        await redis.aclose()
        await cache.close()

    async def test_a_response_stops_counting_when_one_of_its_keys_moves(
        self, cache_settings: Settings, clock: Clock
    ) -> None:
        cache = SharedCache.from_settings(cache_settings)
        assert cache is not None
        state = ContentState(versions=(("all", 1), ("articles", 4)), changed_at=None)
        await cache.store("page", state, CachedResponse(headers=[(b"etag", b'W/"x"')], body=b"{}"))
        assert (await cache.lookup("page", now=clock.now)) == CachedResponse(headers=[(b"etag", b'W/"x"')], body=b"{}")
        await cache.before_commit({"articles": 5})
        assert await cache.lookup("page", now=clock.now) is None
        await cache.close()

    async def test_a_response_stops_counting_once_the_next_scheduled_article_is_due(
        self, cache_settings: Settings, clock: Clock
    ) -> None:
        cache = SharedCache.from_settings(cache_settings)
        assert cache is not None
        due = clock.now + timedelta(seconds=1)
        state = ContentState(versions=(("all", 1),), changed_at=None, next_due=due)
        await cache.store("page", state, CachedResponse(headers=[], body=b"{}"))
        assert await cache.lookup("page", now=clock.now) is not None
        assert await cache.lookup("page", now=due) is None
        await cache.close()

    async def test_a_response_is_not_served_to_a_reader_whose_clock_is_behind_its_newest_article(
        self, cache_settings: Settings, clock: Clock
    ) -> None:
        cache = SharedCache.from_settings(cache_settings)
        assert cache is not None
        state = ContentState(versions=(("all", 1),), changed_at=None, newest=clock.now)
        await cache.store("page", state, CachedResponse(headers=[], body=b"{}"))
        assert await cache.lookup("page", now=clock.now) is not None
        assert await cache.lookup("page", now=clock.now - timedelta(milliseconds=1)) is None
        await cache.close()

    async def test_without_redis_the_api_answers_from_the_database(
        self, settings: Settings, app: Any, article: Any
    ) -> None:
        unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
        lonely = process(unreachable, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lonely), base_url="http://testserver") as client:
            response = await client.get("/v1/articles")
        assert response.status_code == 200
        assert response.json()["items"][0]["slug"] == article.slug
        await lonely.state.content_cache.close()
