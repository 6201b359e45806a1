"""A Python client generated from docs/openapi.json, used as a new reader would use it
(issue 11): openapi-python-client's plain anonymous `Client` against a live server with
the demo content. `make check-client` runs it in CI; a change to the document that
breaks the generated client, or a server that stops answering as the document says,
fails it.

It lists the feed, follows its cursor, filters by ticker, reads an article and gets a
404 problem document. Each step checks the parsed model, not just the status.
"""

import importlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
PACKAGE = "tickerfeed_client"
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generate(into: Path) -> None:
    started = time.monotonic()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"), "generate",
            "--path", str(DOCUMENT), "--output-path", str(into / PACKAGE), "--meta", "none",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    lines = sum(len(path.read_text().splitlines()) for path in (into / PACKAGE).rglob("*.py"))
    print(f"generated {PACKAGE}: {lines} lines in {time.monotonic() - started:.1f} s")


def serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {
        key: value for key, value in os.environ.items()
        # The embedded defaults: no Redis, no settings from a developer's shell or `.env`.
        if not key.startswith(("REDIS_", "RATE_LIMIT_", "SHARED_CACHE", "DATABASE_", "PUBLIC_"))
    }
    environment |= {
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'client-check.db'}",
        "LOAD_DEMO_CONTENT": "true",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tickerfeed"), "serve", "--port", str(port)],
        cwd=workdir,  # away from the checkout's `.env`
        env=environment,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not get ready in {STARTUP_SECONDS} s")


def check(port: int) -> None:
    client_module = importlib.import_module(PACKAGE)
    list_articles = importlib.import_module(f"{PACKAGE}.api.articles.list_articles")
    get_article = importlib.import_module(f"{PACKAGE}.api.articles.get_article")
    models = importlib.import_module(f"{PACKAGE}.models")

    client = client_module.Client(base_url=f"http://127.0.0.1:{port}", raise_on_unexpected_status=True)
    first = list_articles.sync(client=client, limit=2)
    assert isinstance(first, models.PageArticleCard), first
    assert len(first.items) == 2 and isinstance(first.next_cursor, str), first
    second = list_articles.sync(client=client, limit=2, cursor=first.next_cursor)
    assert isinstance(second, models.PageArticleCard), second
    assert not {a.slug for a in first.items} & {a.slug for a in second.items}, "the cursor repeated articles"
    print(f"feed: {len(first.items)} + {len(second.items)} articles over a cursor")

    on_nvda = list_articles.sync(client=client, ticker=["NVDA"])
    assert isinstance(on_nvda, models.PageArticleCard) and on_nvda.items, on_nvda
    assert all(any(t.symbol == "NVDA" for t in a.tickers) for a in on_nvda.items), "ticker filter"
    print(f"ticker=NVDA: {len(on_nvda.items)} articles")

    detail = get_article.sync(client=client, slug=on_nvda.items[0].slug)
    assert isinstance(detail, models.ArticleDetail) and detail.body_html, detail
    print(f"detail: {detail.slug} ({detail.word_count} words)")

    missing = get_article.sync_detailed(client=client, slug="no-such-article")
    assert missing.status_code == 404, missing
    assert isinstance(missing.parsed, models.ProblemDocument), missing.parsed
    assert missing.parsed.type_ == "/problems/not-found", missing.parsed
    print(f"404: {missing.parsed.title}: {missing.parsed.detail}")


def main() -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tickerfeed-client-"))
    server: Any = None
    try:
        generate(workdir)
        sys.path.insert(0, str(workdir))
        port = free_port()
        server = serve(workdir, port)
        check(port)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"generated Python client checked in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
