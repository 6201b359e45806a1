"""How well conditional GET pays off: the share of 304s when a client revalidates an
unchanged feed, and the time a 304 takes against a full response.

Starts the API with uvicorn on 127.0.0.1 over a temporary SQLite file with the demo
content, then times sequential keep-alive requests with httpx:

    .venv/bin/python bench/revalidation.py            # 300 requests per case
    .venv/bin/python bench/revalidation.py --requests 1000 --port 8799
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PATHS = [
    "/feeds/articles.rss",
    "/feeds/articles.atom",
    "/feeds/articles.json",
    "/feeds/tickers/NVDA.rss",
    "/v1/articles",
]


def start_server(database: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "ENVIRONMENT": "development",  # the built-in secret, as `make run`
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "LOAD_DEMO_CONTENT": "true",
        "LOG_LEVEL": "WARNING",
        "PUBLIC_SITE_URL": "https://news.example",
    }
    command = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "serve",
        "--port",
        str(port),
    ]
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen(
        command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_until_up(client: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def timed(
    client: httpx.Client, path: str, headers: dict[str, str], count: int
) -> tuple[list[float], list[int], int]:
    times, statuses, size = [], [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        statuses.append(response.status_code)
        size = len(response.content)
    return times, statuses, size


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms"


def run(client: httpx.Client, count: int) -> None:
    print(f"{count} sequential requests per case, keep-alive, one uvicorn worker, SQLite\n")
    # The floor: routing, middleware and HTTP without any database work.
    floor, _, _ = timed(client, "/healthz", {}, count)
    print(f"/healthz (no database)  {summary(floor)}\n")
    for path in PATHS:
        first = client.get(path)
        etag, last_modified = first.headers["etag"], first.headers["last-modified"]
        full, full_statuses, full_size = timed(client, path, {}, count)
        by_etag, etag_statuses, empty = timed(client, path, {"If-None-Match": etag}, count)
        by_date, date_statuses, _ = timed(client, path, {"If-Modified-Since": last_modified}, count)
        assert set(full_statuses) == {200}
        share_etag = etag_statuses.count(304) / count
        share_date = date_statuses.count(304) / count
        speedup = statistics.median(full) / statistics.median(by_etag)
        print(path)
        print(f"  200 full       {summary(full)}  {full_size} bytes")
        print(f"  304 by ETag    {summary(by_etag)}  {empty} bytes  304 share {share_etag:.1%}")
        print(f"  304 by date    {summary(by_date)}  304 share {share_date:.1%}")
        print(
            f"  a 304 takes {1 / speedup:.0%} of the time of a full response ({speedup:.1f}x faster)\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder) / "bench.db", args.port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=30) as client:
                wait_until_up(client)
                run(client, args.requests)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
