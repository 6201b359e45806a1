"""One benchmark run: data, ceilings, workloads, scaling, report."""

import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import redis

from bench import dataset
from bench.inputs import Inputs, gather
from bench.load import load
from bench.load_generator import WRK_HINT, Result, have_wrk, run_httpx, run_wrk
from bench.report import Row, document
from bench.server import Server, prime_cache, serve, wait_until_idle
from bench.storm import Storm, mix_paths, publish_storm

BENCH_DIR = Path(__file__).resolve().parent
SECRET = "benchmark-secret-not-for-production"
TARGETS_1M = {
    "W1": "≥ 15% of (b)", "W2": "≥ 25% of (b)", "W3": "≥ 15% of (b)", "W4": "≥ 15% of (b)",
    "W5": "p99 < 50 ms", "W6": "≥ 80% of (c)",
}
TARGETS_1M_CACHED = {
    "W1": "≥ 60% of (b)", "W2": "≥ 70% of (b)", "W3": "≥ 50% of (b)", "W4": "≥ 50% of (b)",
    "W5": "p99 < 50 ms", "W6": "≥ 80% of (c)",
}


@dataclass
class Options:
    size: str = "10k"
    backend: str = "postgresql"
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432"
    redis_url: str = "redis://127.0.0.1:6379/0"
    reload: bool = False
    warmup: float = 3.0
    duration: float = 10.0
    workers: tuple[int, ...] = (1, 2, 4)
    use_wrk: bool = True
    results_dir: Path = BENCH_DIR / "results"
    only: tuple[str, ...] = ()
    data_dir: Path = BENCH_DIR / ".data"
    notes: list[str] = field(default_factory=list)

    def database_url(self) -> str:
        name = f"tickerfeed_bench_{self.size}"
        if self.backend == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return f"sqlite+aiosqlite:///{self.data_dir / name}.db"
        return f"{self.postgres_url.rstrip('/')}/{name}"


def prepare(options: Options) -> tuple[str, Inputs]:
    url = options.database_url()
    size = dataset.SIZES[options.size]
    depths = [4000] + ([500_000] if size.articles >= 1_000_000 else [])
    inputs = None
    if not options.reload:
        try:
            inputs = gather(url, SECRET, depths)
        except Exception:  # noqa: BLE001  (no database yet: load it)
            inputs = None
    if inputs is None or inputs.article_count != size.articles:
        print(f"loading {size.articles:,} articles into {url.rsplit('/', 1)[-1]} …", flush=True)
        load(url, size)
        inputs = gather(url, SECRET, depths)
    return url, inputs


class Bench:
    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.wrk = options.use_wrk and have_wrk()
        if options.use_wrk and not self.wrk:
            print(WRK_HINT, flush=True)
            options.notes.append(f"{WRK_HINT}; numbers below come from a short httpx round and are not benchmarks")

    def paths_file(self, name: str, paths: list[str]) -> Path:
        path = self.workdir / f"{name}.txt"
        path.write_text("\n".join(paths) + "\n")
        return path

    @property
    def load(self) -> Callable[..., Result]:
        return run_wrk if self.wrk else run_httpx

    def measure(
        self, server: Server, paths: Path, header: tuple[str, str] | None = None, *, prime: bool = False
    ) -> tuple[Result, int, float]:
        run = self.load
        if prime:
            prime_cache(server, paths, header)
        if self.options.warmup > 0:
            run(server.url, paths, seconds=self.options.warmup, header=header)
        with server.sample_rss():
            result = run(server.url, paths, seconds=self.options.duration, header=header)
        cpu_ms = server.cpu_used * 1000 / result.requests if result.requests else 0.0
        return result, server.peak_rss_kib, cpu_ms

    def row(self, name: str, description: str, server: Server, paths: Path,
            header: tuple[str, str] | None = None, target: str = "", *, prime: bool = False) -> Row:
        result, rss, cpu_ms = self.measure(server, paths, header, prime=prime)
        print(f"  {name:<7} {description:<44} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
              f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}  rss {rss / 1024:.0f} MB  "
              f"cpu {cpu_ms:.2f} ms/req", flush=True)
        return Row(name, description, result, rss, target=target, cpu_ms=cpu_ms)


def app_env(url: str, *, redis_url: str, shared_cache: bool, prefix: str) -> dict[str, str]:
    # `test`, not `production`: production refuses rate limits on the cache's Redis server
    # (issue 10), and the bench has one Redis, without a memory cap, so nothing is evicted.
    return {
        "DATABASE_URL": url, "LOAD_DEMO_CONTENT": "false", "SECRET_KEY": SECRET,
        "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING", "REDIS_URL": redis_url,
        "SHARED_CACHE": "true" if shared_cache else "false", "SHARED_CACHE_PREFIX": prefix,
        # wrk is one client: the per-client search limit would turn W5 into 429s.
        "RATE_LIMIT_SEARCH_PER_CLIENT": "1000000/minute",
    }


def run(options: Options) -> Path:
    url, inputs = prepare(options)
    with tempfile.TemporaryDirectory(prefix="tickerfeed-bench-") as folder:
        bench = Bench(options, Path(folder))
        sections, storm, notes = execute(bench, url, inputs)
    text = document(
        size=options.size, backend=options.backend, database=inputs.server_version,
        load_tool="wrk" if bench.wrk else "httpx (wrk missing)", sections=sections, notes=notes + options.notes,
        storm=storm,
    )
    print("\n" + text)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    out = options.results_dir / f"{datetime.now(UTC):%Y-%m-%d}-{options.size}-{options.backend}.md"
    out.write_text(text)
    print(f"written to {out.relative_to(BENCH_DIR.parent) if out.is_relative_to(BENCH_DIR.parent) else out}")
    return out


@dataclass(frozen=True)
class Mode:
    title: str
    shared_cache: bool
    targets: dict[str, str]


MODES = (
    Mode("Workloads, no shared cache (every request reaches the database)", False, TARGETS_1M),
    Mode("Workloads with the shared cache (Redis)", True, TARGETS_1M_CACHED),
)


def execute(bench: Bench, url: str, inputs: Inputs) -> tuple[list[tuple[str, list[Row]]], Storm | None, list[str]]:
    wanted = bench.options.only
    notes: list[str] = []
    w1 = bench.paths_file("w1", ["/v1/articles?limit=20"])
    prefix = f"tickerfeed-bench:{uuid.uuid4().hex}"
    redis_up = redis_answers(bench.options.redis_url)
    sections: list[tuple[str, list[Row]]] = []
    storm = None
    try:
        # W8 and the scaling run need nothing from the modes, not even the ceilings.
        if not wanted or set(wanted) - {"W8", "scale"}:
            sections, notes = measure_modes(bench, url, inputs, w1, prefix, redis_up)
        if not wanted or "W8" in wanted:
            storm = measure_storm(bench, url, inputs, prefix, redis_up)
    finally:
        if redis_up:
            forget_cache(bench.options.redis_url, prefix)

    scaling: list[Row] = []
    if bench.options.workers and (not wanted or "scale" in wanted):
        print("W1 scaling", flush=True)
        env = app_env(url, redis_url=bench.options.redis_url, shared_cache=False, prefix=prefix)
        for workers in bench.options.workers:
            name, description = f"W1×{workers}", f"W1 with {workers} worker{'s' if workers > 1 else ''}"
            try:
                with serve("app.main:create_app", env=env, workers=workers) as server:
                    scaling.append(bench.row(name, description, server, w1))
            except RuntimeError as exc:  # a server that does not come up is reported, not fatal
                scaling.append(Row(name, description, None, note=str(exc)))
        if scaling and scaling[0].result:
            for row in scaling:
                row.ceiling = scaling[0].result.rps
        notes.append(
            f"Scaling ratios are to one worker, without the shared cache. The machine has {os.cpu_count()} "
            "cores shared by wrk, the server and PostgreSQL, so more workers than cores cannot add throughput here."
        )
    if scaling:
        sections.append(("W1 scaling with workers, no shared cache (ratio to one worker)", scaling))
    return sections, storm, notes


# Targets that are not their workload family's (`targets` is keyed on "W1"…"W6").
OWN_TARGETS = {"W4-deep": "within 10% of W1", "W2-long": ""}


def measure_modes(
    bench: Bench, url: str, inputs: Inputs, w1: Path, prefix: str, redis_up: bool
) -> tuple[list[tuple[str, list[Row]]], list[str]]:
    """The ceilings, then every workload without and with the shared cache."""
    big = inputs.article_count >= 1_000_000
    wanted = bench.options.only
    notes: list[str] = []
    sections: list[tuple[str, list[Row]]] = []
    for mode in MODES:
        if mode.shared_cache and not redis_up:
            notes.append(f"Redis did not answer at {bench.options.redis_url}: the shared-cache workloads did not run.")
            continue
        env = app_env(url, redis_url=bench.options.redis_url, shared_cache=mode.shared_cache, prefix=prefix)
        with serve("app.main:create_app", env=env) as app_server:
            first = httpx.get(app_server.url + "/v1/articles?limit=20", timeout=10)
            first.raise_for_status()
            if not sections:
                body_file = bench.workdir / "w1-body.json"
                body_file.write_bytes(first.content)
                # The app server idles (no CPU) while the ceilings run on their own servers.
                sections.append(("Ceilings", measure_ceilings(bench, w1, body_file, url)))
            ceilings = sections[0][1]
            b = ceilings[1].result.rps if ceilings[1].result else None
            c = ceilings[2].result.rps if ceilings[2].result else None
            has_rss = httpx.get(app_server.url + "/feeds/articles.rss", timeout=10).status_code == 200
            targets = mode.targets if big else {}
            workloads, skipped = define_workloads(inputs, first.headers.get("ETag"), has_rss, targets)
            print(mode.title.lower(), flush=True)
            rows: list[Row] = []
            for name, description, paths, header in workloads:
                if wanted and name not in wanted:
                    continue
                target = OWN_TARGETS.get(name, targets.get(name[:2], ""))
                wait_until_idle(app_server)
                # With the shared cache, every page is requested once first: the run measures hits.
                row = bench.row(name, description, app_server, bench.paths_file(name, paths), header, target,
                                prime=mode.shared_cache)
                row.ceiling = c if name == "W6" else b
                rows.append(row)
        rows += [row for row in skipped if not wanted or row.name in wanted]
        cancel_leftover_queries(url)
        sections.append((mode.title, rows))
    if big:
        for _, rows in sections[1:]:
            for row in rows:
                if row.result and row.peak_rss_kib > 150 * 1024:
                    notes.append(f"{row.name}: peak RSS {row.peak_rss_kib / 1024:.0f} MB is over the 150 MB target")
    notes.append("W6's ratio is to ceiling (c), a FastAPI route returning a constant 304; all others to (b).")
    bare_driver = sections[0][1][3].result if sections and len(sections[0][1]) > 3 else None
    if bare_driver and b:
        uncached = {row.name: row.result.rps for row in sections[1][1] if row.result} if len(sections) > 1 else {}
        shares = ", ".join(f"{name} {rps / bare_driver.rps:.0%}" for name, rps in uncached.items() if name[:2] in {"W1", "W4"})
        notes.append(f"Ceiling (d), the database's own limit for a W1 page on this machine: {bare_driver.rps:,.0f} req/s "
                     f"({bare_driver.rps / b:.1%} of (b)) against W1's target of 15% of (b). No cache, share of (d): {shares}.")
    return sections, notes


def measure_storm(bench: Bench, url: str, inputs: Inputs, prefix: str, redis_up: bool) -> Storm:
    """W8 on a server of its own (the app, plus a count of cache hits), shared cache on."""
    print("W8 publish storm (shared cache)", flush=True)
    if not redis_up:
        return Storm(mix="", skipped=f"Redis did not answer at {bench.options.redis_url}")
    env = app_env(url, redis_url=bench.options.redis_url, shared_cache=True, prefix=prefix)
    storm = publish_storm(
        url, inputs, env, bench.paths_file("w8", mix_paths(inputs)), load=bench.load,
        warmup=bench.options.warmup, duration=bench.options.duration, redis_url=bench.options.redis_url,
    )
    cancel_leftover_queries(url)
    if bench.options.backend != "postgresql":
        storm.notes.append("W8 is defined on PostgreSQL; on SQLite this run only checks the harness.")
    for label, run in (("mix, no writer", storm.baseline), ("W8, with writer", storm.storm)):
        if run:
            ratio = f"{run.hit_ratio:.1%}" if run.hit_ratio is not None else "?"
            print(f"  {label:<16} {run.result.rps:>9,.0f} req/s  p50 {run.result.p50_ms:6.2f} ms  "
                  f"p99 {run.result.p99_ms:7.2f} ms  errors {run.result.errors}  cache hits {ratio}", flush=True)
    w = storm.writes
    print(f"  writes: {w.acknowledged}/{w.publishes} published, {w.edited}/{w.edits} edited, "
          f"visible on next request {w.visible}/{w.acknowledged}", flush=True)
    return storm


def redis_answers(redis_url: str) -> bool:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def forget_cache(redis_url: str, prefix: str) -> None:
    """Removes this run's cache entries so runs do not pile up in Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
    finally:
        client.close()


def cancel_leftover_queries(url: str) -> None:
    """Searches at 1M outlive their clients inside PostgreSQL; cancel them so the next
    measurement starts on an idle database (only this benchmark's database)."""
    if not url.startswith("postgresql"):
        return
    import asyncio

    import asyncpg

    from bench.load import asyncpg_dsn

    async def cancel() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await connection.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
        finally:
            await connection.close()

    asyncio.run(cancel())


def measure_ceilings(bench: Bench, w1: Path, body_file: Path, url: str) -> list[Row]:
    print("ceilings", flush=True)
    with serve("bench.ceilings:raw_app", env={}, factory=False) as server:
        ceil_a = bench.row("(a)", "raw ASGI app, constant body", server, w1)
    with serve("bench.ceilings:create_prebuilt_app", env={"BENCH_PREBUILT_BODY": str(body_file)}) as server:
        ceil_b = bench.row("(b)", "FastAPI route, W1 body pre-built as bytes", server, w1)
        ceil_c = bench.row("(c)", "FastAPI route, constant 304", server, bench.paths_file("c", ["/not-modified"]))
    ceilings = [ceil_a, ceil_b, ceil_c]
    if url.startswith("postgresql"):
        with serve("bench.ceilings:create_bare_driver_app", env={"BENCH_DATABASE_URL": url}) as server:
            ceilings.append(bench.row("(d)", "FastAPI route, W1's page statement on bare asyncpg", server, w1))
    b = ceil_b.result.rps if ceil_b.result else None
    for row in ceilings:
        row.ceiling = b
    return ceilings


Workload = tuple[str, str, list[str], tuple[str, str] | None]


def define_workloads(
    inputs: Inputs, etag: str | None, has_rss: bool, targets: dict[str, str]
) -> tuple[list[Workload], list[Row]]:
    workloads: list[Workload] = [
        ("W1", "feed page `?limit=20`", ["/v1/articles?limit=20"], None),
        ("W2", f"article by slug ({len(inputs.slugs)} random)", [f"/v1/articles/{s}" for s in inputs.slugs], None),
        ("W2-long", f"article by slug ({len(inputs.long_slugs)} longest bodies: HTML "
                    f"{inputs.long_body_chars / 1000:.1f}k chars, W2's {inputs.body_chars / 1000:.1f}k)",
         [f"/v1/articles/{s}" for s in inputs.long_slugs], None),
        ("W3", f"ticker feed ({len(inputs.symbols)} random)",
         [f"/v1/articles?ticker={quote(s)}&limit=20" for s in inputs.symbols], None),
        *[(f"W4{'-deep' if depth >= 500_000 else ''}", f"page after {depth:,} by cursor",
           [f"/v1/articles?limit=20&cursor={cursor}"], None) for depth, cursor in inputs.deep_cursors],
    ]
    search: Workload = ("W5", f"search `?q=` ({len(inputs.words)} random words)",
                        [f"/v1/articles?q={w}&limit=20" for w in inputs.words], None)
    skipped = []
    if etag:
        workloads.append(("W6", "W1 with If-None-Match (304)", ["/v1/articles?limit=20"], ("If-None-Match", etag)))
    else:
        skipped.append(Row("W6", "W1 with If-None-Match", None, note="the server sends no ETag yet",
                           target=targets.get("W6", "")))
    if has_rss:
        workloads.append(("W7", "RSS feed `/feeds/articles.rss`", ["/feeds/articles.rss"], None))
    else:
        skipped.append(Row("W7", "RSS feed", None, note="`/feeds/articles.rss` not served yet"))
    # Search last: at 1M its queries outlive the run in PostgreSQL and would slow what follows.
    workloads.append(search)
    return workloads, skipped
