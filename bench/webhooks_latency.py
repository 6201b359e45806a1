"""Publish → webhook received, p50/p99, with N healthy endpoints on local receivers, and
beside them one endpoint that always fails and one that never answers (issue 12).

    .venv/bin/python bench/webhooks_latency.py                      # 10 endpoints, 40 publishes, SQLite
    .venv/bin/python bench/webhooks_latency.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_hooks [--redis-url redis://127.0.0.1:6379/5]

A fresh database (a temporary SQLite file unless --database-url is given; that database is
dropped and recreated, so never point it at data you keep), `tickerfeed serve` and
`tickerfeed worker` (which delivers webhooks) as separate processes, and the receivers
on 127.0.0.1 in this one. Once a test ping has reached every healthy endpoint, each
publish goes through the API, one at a time; its latency to an endpoint is from just
before the POST to the moment that receiver has read the event's body. The worker is told
that the changes log moved (Redis, or PostgreSQL's NOTIFY); on SQLite it looks every
0.5 s. The failing and the hanging endpoint get every event too: their retries and
timeouts must not delay the healthy ones. Not a test.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ENVIRONMENT", "development")

from bench.newsletter_send import free_port, recreate_postgresql  # noqa: E402
from tests.webhooks.receiver import Answer, Receiver  # noqa: E402

CLI = [str(Path(sys.executable).with_name("tickerfeed"))]


def tickerfeed(*arguments: str, env: dict[str, str]) -> str:
    return subprocess.run([*CLI, *arguments], env=env, check=True, capture_output=True, text=True).stdout


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def read_arrivals(receiver: Receiver, read: int, seen: dict[str, list[float]]) -> int:
    """Adds the events `receiver` got since the first `read` to `seen`; how many it has read."""
    for request in receiver.received[read:]:
        body = json.loads(request.body)
        if body["type"] == "article.published":
            seen.setdefault(body["data"]["article"]["title"], []).append(request.at)
    return len(receiver.received)


async def measure(env: dict[str, str], *, endpoints: int, publishes: int) -> dict[str, Any]:
    key = tickerfeed("keys", "create", "--name", "bench", "--scope", "admin", "--scope", "content:write", env=env)
    headers = {"Authorization": f"Bearer {key.splitlines()[-1].strip()}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    receivers = [Receiver() for _ in range(endpoints)]
    failing = Receiver(lambda _path, _n: Answer(status=500))
    hanging = Receiver(lambda _path, _n: Answer(delay=3600))
    try:
        await wait_ready(base)
        for receiver in [*receivers, failing, hanging]:
            await receiver.__aenter__()
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
            for receiver in [*receivers, failing, hanging]:
                body = {"url": receiver.url(), "events": ["article.published", "webhook.test"]}
                assert (await api.post("/v1/webhooks", json=body)).status_code == 201
            author = {"slug": "bench", "name": "Bench", "kind": "human"}
            assert (await api.post("/v1/authors", json=author)).status_code == 201
            worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Warm-up, not measured: the worker has started once every healthy endpoint got a ping.
            for endpoint in (await api.get("/v1/webhooks", params={"limit": 100})).json()["items"]:
                assert (await api.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 202
            while sum(len(receiver.received) for receiver in receivers) < endpoints:
                await asyncio.sleep(0.05)
            latencies: list[float] = []
            publish_times: list[float] = []
            seen: dict[str, list[float]] = {}
            read = [len(receiver.received) for receiver in receivers]
            for n in range(publishes):
                title = f"Bench story {n}"
                article = {"title": title, "body_markdown": "Body.", "author": "bench", "status": "published"}
                started = time.monotonic()
                assert (await api.post("/v1/articles", json=article)).status_code == 201
                publish_times.append(time.monotonic() - started)
                deadline = started + 30
                while time.monotonic() < deadline and len(seen.get(title, ())) < endpoints:
                    await asyncio.sleep(0.002)
                    read = [read_arrivals(receiver, done, seen) for receiver, done in zip(receivers, read, strict=True)]
                latencies += [at - started for at in seen.get(title, ())]
                await asyncio.sleep(0.1)
            unhealthy = {"failing": len(failing.received), "hanging": len(hanging.received)}
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
        for receiver in [*receivers, failing, hanging]:
            if receiver.server is not None:
                await receiver.__aexit__()
    return {
        "events": len(latencies), "expected": endpoints * publishes,
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000, "max_ms": max(latencies) * 1000,
        "unhealthy_requests": unhealthy,
        "publish_p50_ms": percentile(publish_times, 0.5) * 1000, "publish_max_ms": max(publish_times) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--publishes", type=int, default=40)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", help="REDIS_URL for the API and the worker (their notifications)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        if not url.startswith("sqlite"):
            asyncio.run(recreate_postgresql(url))
        env = os.environ | {
            "DATABASE_URL": url, "ENVIRONMENT": "development", "LOAD_DEMO_CONTENT": "false",
            "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "LOG_LEVEL": "WARNING",
            # The hanging endpoint is given up on after this; the healthy ones answer at once.
            "WEBHOOK_TIMEOUT_SECONDS": "5", "SMTP_PORT": str(free_port()),
        } | ({"REDIS_URL": options.redis_url} if options.redis_url else {})
        tickerfeed("migrate", env=env)
        result = asyncio.run(measure(env, endpoints=options.endpoints, publishes=options.publishes))
    backend = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(
        f"{backend}{' + Redis' if options.redis_url else ''}, {options.endpoints} healthy endpoints, {options.publishes} publishes: "
        f"{result['events']}/{result['expected']} events received; publish → received "
        f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms (mean {result['mean_ms']:.0f}, max {result['max_ms']:.0f}); "
        f"the publish request itself p50 {result['publish_p50_ms']:.0f} ms, max {result['publish_max_ms']:.0f} ms; "
        f"requests to the failing and the hanging endpoint meanwhile: {result['unhealthy_requests']}"
    )


if __name__ == "__main__":
    main()
