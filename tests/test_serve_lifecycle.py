"""`tickerfeed serve` as a process (issue 13, items 2 to 4): SIGTERM drains before it stops,
and several workers are counted in one scrape.

The in-flight request is a sign-up whose body the client sends slowly: the app waits for
it as it would for any slow client, so no test route is needed.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.mail_fixtures import free_port
from tests.test_cli import TICKERFEED, wait_for
from tests.test_metrics import COUNT_IN_A_PROCESS, Samples, labels, parse

DRAIN_SECONDS, GRACE_SECONDS = 2.0, 15.0
SIGN_UP = json.dumps({"email": "slow.reader@example.com", "newsletters": ["daily-headlines"]}).encode()


def serve(folder: Path, port: int, *arguments: str, **settings: str) -> subprocess.Popen:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("DATABASE_", "PUBLIC_", "REDIS", "PROMETHEUS_", "LOG_", "SHUTDOWN_", "METRICS_"))
    }
    environment |= {
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'tickerfeed.db'}",
        "SEND_MAIL_ON_REQUEST": "false",
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    return subprocess.Popen(
        [TICKERFEED, "serve", "--port", str(port), *arguments], cwd=folder, env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    process = serve(
        tmp_path, port, SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS), SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS)
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", seconds=120)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def start_slow_sign_up(port: int) -> socket.socket:
    """A request whose headers and half its body have arrived; the rest comes later."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /v1/subscriptions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(SIGN_UP)}\r\nX-Request-ID: slow-sign-up\r\n\r\n"
    ).encode()
    connection.sendall(head + SIGN_UP[:10])
    return connection


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


class TestShutdown:
    def test_sigterm_drains_then_finishes_in_flight_requests_and_exits_0(self, server):
        process, port = server
        slow = start_slow_sign_up(port)
        time.sleep(0.5)  # the server has the headers: the request is in flight

        terminated = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # Draining: not ready, still serving.
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        alive = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["detail"] == "The server is shutting down."
        assert alive.status_code == 200
        # Then new connections are refused, while the slow request is still being received.
        while not refuses_connections(port):
            assert time.monotonic() - terminated < DRAIN_SECONDS + 5, "still accepting connections"
            time.sleep(0.1)
        assert time.monotonic() - terminated >= DRAIN_SECONDS - 0.2

        slow.sendall(SIGN_UP[10:])
        answer = slow.makefile("rb").read().decode()
        slow.close()
        process.wait(timeout=GRACE_SECONDS)

        assert answer.startswith("HTTP/1.1 202 "), answer
        assert "connection: close" in answer.lower()
        assert process.returncode == 0
        assert time.monotonic() - terminated < DRAIN_SECONDS + GRACE_SECONDS
        lines = [json.loads(line) for line in process.stderr.read().splitlines() if line.strip()]
        requests = {line["request_id"]: line for line in lines if line["logger"] == "tickerfeed.requests"}
        assert {key: requests["slow-sign-up"][key] for key in ("method", "route", "status", "cache")} == {
            "method": "POST", "route": "/v1/subscriptions", "status": 202, "cache": "none",
        }
        assert [line["status"] for line in requests.values() if line["route"] == "/readyz"] == [503]
        assert not any("slow.reader" in json.dumps(line) for line in lines)


class TestMultiProcessMetrics:
    def test_serve_with_two_workers_counts_every_request_in_one_scrape_on_the_metrics_port(self, tmp_path):
        metrics = tmp_path / "metrics"
        metrics.mkdir()
        # Values a previous run left behind: `serve` empties the directory first.
        stale = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS, "5"], env=stale, check=True, timeout=60)
        port, metrics_port = free_port(), free_port()
        process = serve(
            tmp_path, port, "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(metrics), METRICS_PORT=str(metrics_port)
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", seconds=120)
            for _ in range(12):  # a connection each: the kernel spreads them over the workers
                assert httpx.get(f"http://127.0.0.1:{port}/v1/articles", timeout=10).status_code == 200
            on_the_api = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            first = scraped(metrics_port)
            second = scraped(metrics_port)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)

        articles = ("tickerfeed_http_requests_total", labels(route="/v1/articles", method="GET", status="200"))
        assert on_the_api.status_code == 404
        assert first[articles] == second[articles] == 12
        scrapes = ("tickerfeed_http_requests_total", labels(route="/metrics", method="GET", status="200"))
        assert second[scrapes] == first.get(scrapes, 0) + 1
        assert process.returncode == 0


def scraped(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    return parse(response.text)
