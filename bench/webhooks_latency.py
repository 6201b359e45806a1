"""Publish → webhook received, p50/p99, with N endpoints on local receivers (issue 12).

    .venv/bin/python bench/webhooks_latency.py                      # 10 endpoints, 40 publishes, SQLite
    .venv/bin/python bench/webhooks_latency.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_hooks

A fresh database (a temporary SQLite file unless --database-url is given; that database is
dropped and recreated, so never point it at data you keep), `tickerfeed serve` and
`tickerfeed webhooks deliver --watch` as separate processes, and N receivers on 127.0.0.1
in this one. Once a test ping has reached every endpoint (the deliverer is up), each
publish goes through the API, one at a time; its latency to an endpoint is from just
before the POST to the moment that receiver has read the event's body. The deliverer looks
for new changes every `--watch` seconds, which bounds the latency from below. Not a test.
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
from tests.webhooks.receiver import Receiver  # noqa: E402

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


async def measure(env: dict[str, str], *, endpoints: int, publishes: int, watch: float) -> dict[str, Any]:
    key = tickerfeed("keys", "create", "--name", "bench", "--scope", "admin", "--scope", "content:write", env=env)
    headers = {"Authorization": f"Bearer {key.splitlines()[-1].strip()}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deliverer = None
    receivers = [Receiver() for _ in range(endpoints)]
    try:
        await wait_ready(base)
        for receiver in receivers:
            await receiver.__aenter__()
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
            for receiver in receivers:
                body = {"url": receiver.url(), "events": ["article.published", "webhook.test"]}
                assert (await api.post("/v1/webhooks", json=body)).status_code == 201
            author = {"slug": "bench", "name": "Bench", "kind": "human"}
            assert (await api.post("/v1/authors", json=author)).status_code == 201
            deliverer = subprocess.Popen(
                [*CLI, "webhooks", "deliver", "--watch", str(watch), "--concurrency", str(endpoints)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            # Warm-up, not measured: the deliverer has started once every endpoint got a ping.
            for endpoint in (await api.get("/v1/webhooks", params={"limit": 100})).json()["items"]:
                assert (await api.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 202
            while sum(len(receiver.received) for receiver in receivers) < endpoints:
                await asyncio.sleep(0.05)
            latencies: list[float] = []
            publish_times: list[float] = []
            for n in range(publishes):
                title = f"Bench story {n}"
                article = {"title": title, "body_markdown": "Body.", "author": "bench", "status": "published"}
                started = time.monotonic()
                assert (await api.post("/v1/articles", json=article)).status_code == 201
                publish_times.append(time.monotonic() - started)
                deadline = started + 30
                while time.monotonic() < deadline:
                    arrivals = [
                        request.at for receiver in receivers for request in receiver.received[1:]
                        if json.loads(request.body)["data"]["article"]["title"] == title
                    ]
                    if len(arrivals) == endpoints:
                        break
                    await asyncio.sleep(0.005)
                latencies += [at - started for at in arrivals]
                await asyncio.sleep(0.1)
            failures: dict[str, int] = {}
            for page in [(await api.get("/v1/webhooks", params={"limit": 100})).json()]:
                for endpoint in page["items"]:
                    log = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 100})).json()
                    for attempt in log["items"]:
                        if attempt["outcome"] != "succeeded":
                            failures[attempt["error"] or str(attempt["status_code"])] = failures.get(attempt["error"] or "", 0) + 1
    finally:
        for process in (deliverer, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        for receiver in receivers:
            if receiver.server is not None:
                await receiver.__aexit__()
    expected = endpoints * publishes
    return {
        "events": len(latencies), "expected": expected,
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000, "max_ms": max(latencies) * 1000,
        "failed_attempts": failures, "publish_p50_ms": percentile(publish_times, 0.5) * 1000, "publish_max_ms": max(publish_times) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--publishes", type=int, default=40)
    parser.add_argument("--watch", type=float, default=0.2, help="the deliverer's --watch interval")
    parser.add_argument("--database-url")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        if not url.startswith("sqlite"):
            asyncio.run(recreate_postgresql(url))
        env = os.environ | {
            "DATABASE_URL": url, "ENVIRONMENT": "development", "LOAD_DEMO_CONTENT": "false",
            "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "LOG_LEVEL": "WARNING",
        }
        tickerfeed("migrate", env=env)
        result = asyncio.run(measure(env, endpoints=options.endpoints, publishes=options.publishes, watch=options.watch))
    backend = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(
        f"{backend}, {options.endpoints} endpoints, {options.publishes} publishes, deliverer --watch {options.watch}: "
        f"{result['events']}/{result['expected']} events received; publish → received "
        f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms (mean {result['mean_ms']:.0f}, max {result['max_ms']:.0f}); "
        f"the publish request itself p50 {result['publish_p50_ms']:.0f} ms, max {result['publish_max_ms']:.0f} ms; "
        f"failed attempts: {result['failed_attempts'] or 'none'}"
    )


if __name__ == "__main__":
    main()
