"""W8, a publish storm: the W1 + W2 + W3 mix answered with the shared cache while a writer
publishes one new article and edits one old article every second through the same
server's API, and every acknowledged publish is looked for in the feeds on the very next
request. The same mix without the writer, just before, is what its throughput is
compared with.

Every write invalidates the whole shared cache (the content version moves), so this is
the cache's worst steady case; a publish acknowledged while any feed still served the
page it replaced is the bug the visibility check is there to catch.
"""

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import redis
from sqlalchemy import bindparam, delete, func, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.models import ApiKey, Article, ArticleTag, ArticleTicker
from bench.cache_probe import PROBE_PATH
from bench.dataset import FILLER, TAGS, TOPICS
from bench.inputs import Inputs
from bench.load_generator import Result
from bench.server import Server, prime_cache, serve, wait_until_idle

TARGET = "≥ 50% of the mix without writer, 0 errors, 100% visible"
# The old articles the writer edits in turn; their dek and updated_at are restored afterwards.
EDIT_POOL = 600


def mix_paths(inputs: Inputs) -> list[str]:
    """W1, W2 and W3 exactly as those workloads request them, about a third of the lines each
    (wrk picks a line at random): W1's one path repeated, W3's symbols repeated to W2's count."""
    w2 = [f"/v1/articles/{slug}" for slug in inputs.slugs]
    w3 = [f"/v1/articles?ticker={quote(symbol)}&limit=20" for symbol in inputs.symbols]
    share = max(len(w2), len(w3), 1)
    return ["/v1/articles?limit=20"] * share + w2 * (share // max(len(w2), 1)) + w3 * (share // max(len(w3), 1))


def feeds_of(symbol: str) -> list[str]:
    """Where a new article must appear at once: the global feed, its first ticker's feed, and
    that feed as W3 requests it (the page the mix keeps in the cache)."""
    return ["/v1/articles?limit=20", f"/v1/tickers/{quote(symbol)}/articles",
            f"/v1/articles?ticker={quote(symbol)}&limit=20"]


@dataclass
class Writes:
    """Each counter has one writing thread; lists take appends from several (atomic in CPython)."""

    publishes: int = 0
    acknowledged: int = 0  # answered 201
    visible: int = 0  # acknowledged and in every feed of `feeds_of` on the next request
    edits: int = 0
    edited: int = 0  # answered 200
    latencies_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text[:300])


@dataclass(frozen=True)
class StormRun:
    result: Result
    gets: int  # anonymous GETs the server answered during the run
    hits: int | None  # of them, answered from the shared cache; None when the probe cannot tell
    redis_hits: int  # Redis INFO keyspace_hits and keyspace_misses deltas (the whole Redis server)
    redis_misses: int

    @property
    def hit_ratio(self) -> float | None:
        if self.hits is not None:
            return self.hits / self.gets if self.gets else None
        total = self.redis_hits + self.redis_misses
        return self.redis_hits / total if total else None


@dataclass
class Storm:
    mix: str
    baseline: StormRun | None = None
    storm: StormRun | None = None
    writes: Writes = field(default_factory=Writes)
    skipped: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.baseline and self.storm and self.baseline.result.rps:
            return self.storm.result.rps / self.baseline.result.rps
        return None

    @property
    def met(self) -> bool:
        w = self.writes
        return bool(
            self.storm and self.ratio is not None and self.ratio >= 0.5 and self.storm.result.errors == 0
            and w.acknowledged and w.acknowledged == w.publishes == w.visible and w.edited == w.edits
        )


@dataclass(frozen=True)
class Plan:
    """What the writer sends: seeded, with a run tag in every slug so runs never collide."""

    inputs: Inputs
    run: str
    edit_slugs: list[str]

    def article(self, n: int) -> dict[str, object]:
        rng = random.Random(f"{self.run}-{n}")
        symbols = rng.sample(self.inputs.symbols, min(rng.randint(1, 3), len(self.inputs.symbols)))
        topic = rng.choice(TOPICS)

        def sentences(count: int) -> str:
            return ". ".join(rng.choice(FILLER).strip() for _ in range(count)) + "."

        also = f", with ${symbols[1]} close behind." if len(symbols) > 1 else "."
        body = "\n\n".join([
            f"${symbols[0]} moved on {topic} news. {sentences(3)}",
            f"## What it means for {topic}",
            "\n".join(f"- {rng.choice(FILLER).strip()}." for _ in range(3)),
            f"{sentences(4)} **{symbols[0]}** stayed in focus{also}",
        ])
        return {
            "slug": f"w8-{self.run}-{n}", "title": f"{symbols[0]} {topic} update {n} ({self.run})",
            "dek": f"Published by the W8 writer, run {self.run}.", "body_markdown": body,
            "author": rng.choice(self.inputs.authors), "status": "published", "tickers": symbols,
            "tags": [rng.choice(TAGS)[0]],
        }

    def edit(self, n: int) -> tuple[str, dict[str, str]]:
        slug = self.edit_slugs[n % len(self.edit_slugs)]
        return slug, {"dek": f"Edited by the W8 writer, run {self.run}, edit {n}."}


class Writer:
    """A publish at every whole second of the run and an edit at every half second between,
    each kind on its own thread so that a slow answer never delays the other kind or the
    next second's write (the cache is invalidated twice a second, evenly). Each acknowledged
    publish is looked for in its feeds at once, the requests in parallel on a small pool.
    Each thread writes at least once, even when stopped sooner (the smoke test's 0.2 s run)."""

    def __init__(self, base_url: str, key: str, plan: Plan) -> None:
        self.base_url, self.key, self.plan = base_url, key, plan
        self.writes = Writes()
        self.stopping = threading.Event()
        self.checks = ThreadPoolExecutor(max_workers=9, thread_name_prefix="w8-check")
        # (slug, feed paths, why each did not list it): tallied once every check has answered.
        self.pending: list[tuple[str, list[str], list[Future[str]]]] = []
        self.threads = [
            threading.Thread(target=self.every_second, args=(self.publish, 0.0), daemon=True),
            threading.Thread(target=self.every_second, args=(self.edit, 0.5), daemon=True),
        ]
        self.start_time = 0.0

    def start(self) -> None:
        self.start_time = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> Writes:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.checks.shutdown(wait=True)
        for slug, paths, found in self.pending:
            reasons = [future.result() for future in found]
            missing = [f"{path} ({why})" for path, why in zip(paths, reasons, strict=True) if why]
            if missing:
                self.writes.problem(f"{slug} missing from the next request of {', '.join(missing)}")
            else:
                self.writes.visible += 1
        return self.writes

    def every_second(self, action: Callable[[httpx.Client, int], None], offset: float) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        try:
            with httpx.Client(base_url=self.base_url, headers=headers, timeout=10) as client:
                self.stopping.wait(offset)
                tick = 0
                while True:
                    action(client, tick)
                    tick += 1
                    if self.stopping.wait(max(0.0, self.start_time + offset + tick - time.monotonic())):
                        return
        except Exception as exc:  # noqa: BLE001  (reported, not lost with the thread)
            self.writes.problem(f"writer stopped: {exc!r}")

    def send(self, client: httpx.Client, method: str, path: str, body: dict[str, object]) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.writes.problem(f"{method} {path}: {exc!r}")
            return None
        self.writes.latencies_ms.append((time.perf_counter() - started) * 1000)
        return response

    def publish(self, client: httpx.Client, n: int) -> None:
        article = self.plan.article(n)
        self.writes.publishes += 1
        response = self.send(client, "POST", "/v1/articles", article)
        if response is None:
            return
        if response.status_code != 201:
            self.writes.problem(f"POST /v1/articles → {response.status_code}: {response.text}")
            return
        self.writes.acknowledged += 1
        slug, symbol = response.json()["slug"], article["tickers"][0]  # type: ignore[index]
        paths = feeds_of(symbol)
        self.pending.append((slug, paths, [self.checks.submit(self.why_unlisted, path, slug) for path in paths]))

    def why_unlisted(self, path: str, slug: str) -> str:
        """Why the page does not list the article: an empty string when it does."""
        # A client of its own: a new connection and no validators, as a reader elsewhere.
        try:
            with httpx.Client(base_url=self.base_url, timeout=10) as reader:
                response = reader.get(path)
        except httpx.HTTPError as exc:
            return repr(exc)
        if response.status_code != 200:
            return f"status {response.status_code}"
        listed = any(item["slug"] == slug for item in response.json()["items"])
        return "" if listed else "not on the page"

    def edit(self, client: httpx.Client, n: int) -> None:
        slug, change = self.plan.edit(n)
        self.writes.edits += 1
        response = self.send(client, "PATCH", f"/v1/articles/{slug}", change)
        if response is None:
            return
        if response.status_code == 200:
            self.writes.edited += 1
        else:
            self.writes.problem(f"PATCH /v1/articles/{slug} → {response.status_code}: {response.text}")


@dataclass(frozen=True)
class Snapshot:
    """What the storm changes in the dataset, to undo it: the next run must find the same data
    (and `prepare` reloads everything when the article count differs)."""

    newest_id: int
    edited: list[dict[str, object]]
    key_id: int


async def _take_snapshot(url: str, edit_slugs: list[str]) -> tuple[Snapshot, str]:
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            api_key, plaintext = await keys_service.create_key(
                session, name="bench W8 writer", scopes=[Scope.CONTENT_WRITE]
            )
            key_id = api_key.id
        async with engine.connect() as connection:
            newest = (await connection.execute(select(func.max(Article.id)))).scalar_one() or 0
            rows = (await connection.execute(
                select(Article.id, Article.dek, Article.updated_at).where(col(Article.slug).in_(edit_slugs))
            )).all()
    finally:
        await engine.dispose()
    edited = [{"row_id": row[0], "old_dek": row[1], "old_updated_at": row[2]} for row in rows]
    return Snapshot(newest, edited, key_id), plaintext  # type: ignore[arg-type]


async def _restore(url: str, snapshot: Snapshot) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            # Link rows first: SQLite connections here do not enforce the cascades.
            for table in (ArticleTicker, ArticleTag):
                await connection.execute(delete(table).where(col(table.article_id) > snapshot.newest_id))
            await connection.execute(delete(Article).where(col(Article.id) > snapshot.newest_id))
            if snapshot.edited:
                await connection.execute(
                    update(Article).where(col(Article.id) == bindparam("row_id")).values(
                        dek=bindparam("old_dek"),
                        updated_at=bindparam("old_updated_at", type_=Article.__table__.c.updated_at.type),
                    ),
                    snapshot.edited,
                )
            await connection.execute(delete(ApiKey).where(col(ApiKey.id) == snapshot.key_id))
    finally:
        await engine.dispose()


def redis_keyspace(redis_url: str) -> tuple[int, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("stats")
    finally:
        client.close()
    return int(stats["keyspace_hits"]), int(stats["keyspace_misses"])


def probe(server: Server) -> tuple[int, int | None]:
    counts = httpx.get(server.url + PROBE_PATH, timeout=10).json()
    return counts["gets"], counts["hits"]


def measured(server: Server, mix: Path, load: Callable[..., Result], seconds: float, redis_url: str) -> StormRun:
    gets, hits = probe(server)
    keyspace = redis_keyspace(redis_url)
    result = load(server.url, mix, seconds=seconds)
    gets_after, hits_after = probe(server)
    keyspace_after = redis_keyspace(redis_url)
    return StormRun(
        result, gets_after - gets, None if hits is None or hits_after is None else hits_after - hits,
        keyspace_after[0] - keyspace[0], keyspace_after[1] - keyspace[1],
    )


def publish_storm(
    url: str, inputs: Inputs, env: dict[str, str], mix: Path, *, load: Callable[..., Result],
    warmup: float, duration: float, redis_url: str,
) -> Storm:
    """The mix without, then with, the writer, on one server with the shared cache on."""
    storm = Storm(mix=f"W1, W2 ({len(inputs.slugs):,} slugs), W3 ({len(inputs.symbols):,} tickers), "
                      "a third of the requests each")
    if not inputs.authors or not inputs.symbols or not inputs.slugs:
        storm.skipped = "the dataset has no human author, ticker or article to write with"
        return storm
    rng = random.Random(20261201)
    plan = Plan(inputs, uuid.uuid4().hex[:8], rng.sample(inputs.slugs, min(EDIT_POOL, len(inputs.slugs))))
    snapshot, key = asyncio.run(_take_snapshot(url, plan.edit_slugs))
    try:
        with serve("bench.cache_probe:create_app", env=env) as server:
            wait_until_idle(server)
            prime_cache(server, mix)
            if warmup > 0:
                load(server.url, mix, seconds=warmup)
            storm.baseline = measured(server, mix, load, duration, redis_url)
            wait_until_idle(server)
            writer = Writer(server.url, key, plan)
            writer.start()
            try:
                storm.storm = measured(server, mix, load, duration, redis_url)
            finally:
                storm.writes = writer.stop()
    finally:
        asyncio.run(_restore(url, snapshot))
    return storm
