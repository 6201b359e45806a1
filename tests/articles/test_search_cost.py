"""Issue 10, item 4: what one client can make searches cost.

SQLite scores each word of a query over every candidate's title, dek and body, so a query
of 42 common words took 1.02 s of CPU over 500 articles of 15 KB, unauthenticated and
uncached. A search now holds at most `MAX_SEARCH_WORDS` words and each client address
gets `RATE_LIMIT_SEARCH_PER_CLIENT` searches.
"""

from typing import Any

import httpx
import pytest

from app.articles.search import MAX_SEARCH_WORDS
from app.main import create_app
from tests.conftest import like
from tests.factories import create_article, create_author
from tests.helpers import assert_validation_error, counted_statements

pytestmark = pytest.mark.asyncio(loop_scope="session")

COMMON_WORDS = "the of and to a in is it you that he was for on are with as his they be at one have this".split()


def client_for(app: Any, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TestSearchWords:
    async def test_refuses_a_query_of_many_words_before_reading(self, client, session, clock, engine):
        author = await create_author(session)
        everything = " ".join(COMMON_WORDS)
        await create_article(session, author=author, now=clock.now, title=everything, body_markdown=everything * 50)

        with counted_statements(engine) as statements:
            response = await client.get("/v1/articles", params={"q": everything})

        assert_validation_error(response, ["query", "q"])
        assert statements == []

    async def test_counts_repeated_words_too(self, client):
        # FTS5 walks the postings of every phrase of the expression, repeats included.
        response = await client.get("/v1/articles", params={"q": " ".join(["the"] * (MAX_SEARCH_WORDS + 1))})

        assert_validation_error(response, ["query", "q"])

    async def test_answers_a_query_of_the_most_words_allowed(self, client, session, clock):
        author = await create_author(session)
        # Not stop words, which PostgreSQL drops from a query.
        words = "nvidia earnings beat guidance chips outlook demand margins".split()[:MAX_SEARCH_WORDS]
        article = await create_article(session, author=author, now=clock.now, title=" ".join(words))

        response = await client.get("/v1/articles", params={"q": " ".join(words)})

        assert response.status_code == 200, response.text
        assert [item["slug"] for item in response.json()["items"]] == [article.slug]


class TestSearchRateLimit:
    async def test_limits_searches_of_each_client_address(self, app, settings):
        limited = like(create_app(settings.model_copy(update={"rate_limit_search_per_client": "3/minute"})), app)
        async with client_for(limited, "198.51.100.7") as client:
            searches = [await client.get("/v1/articles", params={"q": f"word{n}"}) for n in range(4)]
            feed = await client.get("/v1/articles")
        async with client_for(limited, "198.51.100.8") as other:
            elsewhere = await other.get("/v1/articles", params={"q": "word"})

        assert [search.status_code for search in searches] == [200, 200, 200, 429]
        refused = searches[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert feed.status_code == 200, "the feed without `q` is not a search"
        assert elsewhere.status_code == 200
