"""Publish → SSE event received, with many stream clients on one worker (issue 12).

`python -m bench.stream [--clients 1000] [--backend postgresql|sqlite] [--redis-url …]`

On a database of its own (demo content; on PostgreSQL `tickerfeed_bench_stream`, made
again on each run) it starts one uvicorn worker
as `tickerfeed serve` runs it, opens `--clients` streams to it (plain asyncio sockets, so
the clients cost this process little CPU), then:

1. **latency**: publishes one article every `--interval` seconds through the API for
   `--duration` seconds; for each publish, the time from sending the POST (and from its
   201) to each client reading the event. p50/p99 over every (publish, client) pair.
2. **rate**: `--publishers` writers publish as fast as they can for `--duration` seconds;
   the publishes acknowledged per second, whether every client got every event, and the
   p99 from 201 to event meanwhile.

The worker's RSS is sampled throughout (idle, with the clients, peak). Not a test: the
numbers depend on the machine, and on whatever else runs on it.
"""

import argparse
import asyncio
import os
import re
import resource
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from app import migrations
from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.db import create_engine, create_sessionmaker
from app.demo.loader import load_demo_content
from app.settings import Settings
from bench.newsletter_send import recreate_postgresql
from bench.server import Server, rss_kib, serve

SECRET_KEY = "bench-stream-secret"
TARGET_P99_MS = 250
EVENT_ID = re.compile(rb"(?m)^id: (\d+)$")


@contextmanager
def fresh_database(backend: str, postgres_url: str) -> Iterator[str]:
    """On PostgreSQL, `tickerfeed_bench_stream`, dropped and created again (never point it at
    data you keep); on SQLite a temporary file. Migrated."""
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{folder}/stream.db"
        else:
            url = f"{postgres_url.rstrip('/')}/tickerfeed_bench_stream"
            asyncio.run(recreate_postgresql(url))
        migrations.upgrade(url)
        yield url


def prepare(url: str) -> str:
    """The demo content and a `content:write` key."""

    async def run() -> str:
        engine = create_engine(Settings(environment="test", database_url=url, secret_key=SECRET_KEY, _env_file=None))  # type: ignore[call-arg]
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await load_demo_content(session, site_url="https://news.example")
                _, key = await keys_service.create_key(session, name="bench", scopes=[Scope.CONTENT_WRITE])
            return key
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dataclass
class Client:
    """One stream: when it read each event, by `id`."""

    arrivals: dict[int, float] = field(default_factory=dict)
    closed: bool = False
    task: asyncio.Task[None] | None = None

    async def run(self, host: str, port: int, ready: asyncio.Event, counter: list[int], total: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /v1/stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        await reader.readuntil(b"\r\n\r\n")
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        try:
            # Whole reads, not lines: 1,000 clients parsing line by line cost this process
            # more CPU than the server's fan-out, on the same two cores. An event is one
            # write by the server, so its `id:` line never straddles two reads in practice.
            while chunk := await reader.read(65536):
                arrived = time.perf_counter()
                for found in EVENT_ID.finditer(chunk):
                    self.arrivals[int(found[1])] = arrived
                if b"event: error" in chunk:
                    self.closed = True
        finally:
            writer.close()


@dataclass
class Publish:
    sent: float
    acknowledged: float


async def publish_one(client: httpx.AsyncClient, author: str, n: int) -> Publish:
    sent = time.perf_counter()
    body = {
        "title": f"Bench {n} {secrets.token_hex(3)}", "dek": "A benchmark headline.", "body_markdown": "News.",
        "author": author, "status": "published", "tickers": ["NVDA", "AMD"],
    }
    response = await client.post("/v1/articles", json=body)
    assert response.status_code == 201, response.text
    return Publish(sent, time.perf_counter())


async def wait_for(clients: list[Client], count: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(len(c.arrivals) < count and not c.closed for c in clients):
        await asyncio.sleep(0.05)


def latencies(clients: list[Client], publishes: list[Publish], ids: list[int]) -> tuple[list[float], list[float]]:
    """Milliseconds from each publish's POST being sent, and from its 201, to each client's read."""
    from_sent, from_ack = [], []
    for seq, publish in zip(ids, publishes, strict=True):
        for client in clients:
            arrived = client.arrivals.get(seq)
            if arrived is not None:
                from_sent.append((arrived - publish.sent) * 1000)
                from_ack.append((arrived - publish.acknowledged) * 1000)
    return from_sent, from_ack


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Sampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kib(self.pid))
            await asyncio.sleep(0.1)


async def measure(server: Server, key: str, options: argparse.Namespace) -> dict[str, object]:
    host, port = server.url.removeprefix("http://").split(":")
    pid = server.worker_pids()[0]
    results: dict[str, object] = {"rss_idle_mib": rss_kib(pid) / 1024}
    sampler = Sampler(pid)
    sampling = asyncio.create_task(sampler.run())
    ready, counter = asyncio.Event(), [0]
    clients = [Client() for _ in range(options.clients)]
    for client in clients:
        client.task = asyncio.create_task(client.run(host, int(port), ready, counter, options.clients))
        await asyncio.sleep(0)  # no thundering connect: the listen backlog is finite
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(1)
    results["rss_with_clients_mib"] = rss_kib(pid) / 1024
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        author = next(a["slug"] for a in (await api.get("/v1/authors")).json()["items"] if a["kind"] == "human")
        # 1. Latency at a steady pace.
        publishes: list[Publish] = []
        started = time.perf_counter()
        while time.perf_counter() - started < options.duration:
            publishes.append(await publish_one(api, author, len(publishes)))
            await asyncio.sleep(max(0.0, options.interval - (time.perf_counter() - publishes[-1].sent)))
        await wait_for(clients, len(publishes), 30)
        ids = sorted(clients[0].arrivals)[: len(publishes)]
        from_sent, from_ack = latencies(clients, publishes, ids)
        results |= {
            "latency_publishes": len(publishes), "latency_samples": len(from_sent),
            "p50_from_send_ms": percentile(from_sent, 0.5), "p99_from_send_ms": percentile(from_sent, 0.99),
            "p50_from_ack_ms": percentile(from_ack, 0.5), "p99_from_ack_ms": percentile(from_ack, 0.99),
            "max_from_send_ms": max(from_sent, default=float("nan")),
        }
        # 2. As fast as the writers go.
        before = len(clients[0].arrivals)
        burst: list[Publish] = []
        deadline = time.perf_counter() + options.duration

        async def writer(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                burst.append(await publish_one(api, author, 100_000 + n))
                n += options.publishers

        started = time.perf_counter()
        await asyncio.gather(*(writer(offset) for offset in range(options.publishers)))
        elapsed = time.perf_counter() - started
        await wait_for(clients, before + len(burst), 60)
        burst.sort(key=lambda publish: publish.acknowledged)
        got_all = sum(1 for c in clients if len(c.arrivals) >= before + len(burst))
        ids = sorted(clients[0].arrivals)[before: before + len(burst)]
        _, burst_from_ack = latencies(clients, burst[: len(ids)], ids) if len(ids) == len(burst) else ([], [])
        results |= {
            "rate_publishes_per_s": len(burst) / elapsed, "rate_publishes": len(burst),
            "rate_clients_with_every_event": got_all, "rate_clients_closed_too_slow": sum(c.closed for c in clients),
            "rate_p99_from_ack_ms": percentile(burst_from_ack, 0.99),
        }
    results["rss_peak_mib"] = sampler.peak / 1024
    sampling.cancel()
    for client in clients:
        assert client.task is not None
        client.task.cancel()
    await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="'' for none: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between publishes in the latency phase")
    parser.add_argument("--publishers", type=int, default=4, help="concurrent writers in the rate phase")
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, options.clients * 2 + 256)), hard))
    with fresh_database(options.backend, options.postgres_url) as url:
        key = prepare(url)
        prefix = f"tickerfeed-bench-{secrets.token_hex(4)}"
        env = {
            "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY, "DATABASE_URL": url, "LOAD_DEMO_CONTENT": "false",
            "REDIS_URL": options.redis_url, "SHARED_CACHE_PREFIX": prefix, "RATE_LIMIT_PREFIX": prefix,
            "STREAM_MAX_CLIENTS": str(options.clients + 10), "LOG_LEVEL": "WARNING",
        }
        if not options.redis_url:
            del env["REDIS_URL"]
        with serve("app.main:create_app", env=env, workers=1) as server:
            results = asyncio.run(measure(server, key, options))
    transport = "Redis" if options.redis_url else ("LISTEN/NOTIFY" if options.backend == "postgresql" else "in-process")
    print(f"\n{options.clients} clients, one worker, {options.backend}, notifications: {transport}")
    for name, value in results.items():
        print(f"  {name:32} {value:.1f}" if isinstance(value, float) else f"  {name:32} {value}")
    p99 = results["p99_from_send_ms"]
    assert isinstance(p99, float)
    print(f"  target p99 < {TARGET_P99_MS} ms: {'met' if p99 < TARGET_P99_MS else 'missed'}")


if __name__ == "__main__":
    main()
