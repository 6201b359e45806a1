"""What one search request costs (issue 10, item 4): CPU of this process around a
`GET /v1/articles?q=…`, through the ASGI app, over 500 published articles of about 15 KB
of common English words each, the setting the review reproduced.

On SQLite the database runs inside this process, so `time.process_time()` is the whole
cost of the request; on PostgreSQL it misses the server's share, so wall time is shown too.

    .venv/bin/python -m bench.search_cost
    .venv/bin/python -m bench.search_cost --database postgresql+asyncpg://postgres@127.0.0.1:5432/tickerfeed_bench
"""

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from app import migrations
from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.db import ReadDatabase, create_engine, create_read_sessionmaker, create_sessionmaker
from app.articles.search import MAX_SEARCH_WORDS
from app.main import create_app
from app.settings import Settings
from bench.load import recreate_postgresql

ARTICLES = 500
BODY_CHARS = 15_000
COMMON = (
    "the of and to a in is it you that he was for on are with as his they be at one have this "
    "from or had by word but what some we can out other were all there when up use your how said "
    "an each she which do their time if will way about many then them write would like so these"
).split()
# The review's worst case: as many distinct common words as 200 characters hold.
WORST = " ".join(COMMON)[:200].rsplit(" ", 1)[0]
# Words every article holds and PostgreSQL does not drop as stop words, so both backends
# rank all 500 candidates.
CONTENT_WORDS = ["market", "word", "time", "way", "write", "said", "like", "many"]
LONGEST_ALLOWED = " ".join(CONTENT_WORDS[:MAX_SEARCH_WORDS])
QUERIES = {"one word": "market", f"{MAX_SEARCH_WORDS} words": LONGEST_ALLOWED, f"{len(WORST.split())} words": WORST}


def body(generator: random.Random) -> str:
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < BODY_CHARS:
        words.extend(generator.choices(COMMON, k=200))
        words.append("market.\n\n")
    return " ".join(words)[:BODY_CHARS]


async def measure(database_url: str, repeats: int) -> None:
    settings = Settings(
        environment="test", database_url=database_url, secret_key="bench", load_demo_content=False,
        rate_limit_search_per_client="1000000/minute", _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    engine = create_engine(settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_sessionmaker = create_read_sessionmaker(engine)
    app.state.reads = ReadDatabase(engine)
    async with app.state.sessionmaker() as session:
        _, key = await keys_service.create_key(session, name="bench", scopes=[Scope.ADMIN])
        await session.commit()
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        author = {"slug": "bench-author", "name": "Bench Author", "kind": "human"}
        assert (await client.post("/v1/authors", json=author, headers=headers)).status_code == 201
        generator = random.Random(10)
        for n in range(ARTICLES):
            article = {
                "title": f"The market on day {n}", "dek": "What moved and why it matters to you.",
                "body_markdown": body(generator), "author": "bench-author", "status": "published",
                "published_at": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
            }
            assert (await client.post("/v1/articles", json=article, headers=headers)).status_code == 201
        for label, query in QUERIES.items():
            cpu, wall = [], []
            for _ in range(repeats):
                started_cpu, started_wall = time.process_time(), time.perf_counter()
                response = await client.get("/v1/articles", params={"q": query, "limit": 100})
                cpu.append((time.process_time() - started_cpu) * 1000)
                wall.append((time.perf_counter() - started_wall) * 1000)
            print(
                f"{label:>10}: {response.status_code}, {len(response.json().get('items', []))} items, "
                f"CPU median {statistics.median(cpu):.0f} ms (max {max(cpu):.0f}), "
                f"wall median {statistics.median(wall):.0f} ms"
            )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (its database is recreated); default a temporary SQLite file")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    # Alembic's env reads the settings, which accept the built-in secret only in development.
    os.environ.setdefault("ENVIRONMENT", "development")
    with tempfile.TemporaryDirectory() as folder:
        url = options.database or f"sqlite+aiosqlite:///{Path(folder) / 'search.db'}"
        if options.database:
            asyncio.run(recreate_postgresql(url))
        migrations.upgrade(url)
        asyncio.run(measure(url, options.repeats))


if __name__ == "__main__":
    main()
