"""Running API processes for the stream tests, and an SSE client.

Each deployment gets a database of its own (a PostgreSQL database or a SQLite file, made
by the migrations, with the demo content), never the suite's: the servers commit for real.
Its processes are uvicorn in subprocesses, as `tickerfeed serve` runs it, each on a port of
its own, so a test chooses which process it writes through and which one it listens to.
"""

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.db import create_engine, create_sessionmaker
from app.demo.loader import load_demo_content
from app.settings import Settings
from tests.conftest import SITE_URL, migrated_database
from tests.mail_fixtures import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = "stream-test-secret"
STARTUP_SECONDS = 60
# Settings from the developer's shell must not reach the servers.
INHERITED = ("REDIS_", "RATE_LIMIT_", "SHARED_CACHE", "DATABASE_", "PUBLIC_", "STREAM_", "ENVIRONMENT", "SECRET_KEY")


def suite_backend() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    return "postgresql" if url and not url.startswith("sqlite") else "sqlite"


def fresh_database(backend: str) -> AbstractContextManager[str]:
    """A migrated database of its own on `backend`, dropped afterwards."""
    return migrated_database("stream.db", sqlite=backend != "postgresql")


@dataclass
class Deployment:
    database_url: str
    environment: dict[str, str]
    urls: list[str] = field(default_factory=list)
    key: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def writer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def settings_for(url: str) -> Settings:
    return Settings(
        environment="test", database_url=url, secret_key=SECRET_KEY, _env_file=None,  # type: ignore[call-arg]
    )


def _prepare(url: str) -> str:
    """The demo content (as `tickerfeed demo load` loads it) and a `content:write` key."""

    async def run() -> str:
        engine = create_engine(settings_for(url))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await load_demo_content(session, site_url=SITE_URL)
                _, key = await keys_service.create_key(session, name="stream", scopes=[Scope.CONTENT_WRITE])
            return key
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _start(deployment: Deployment, workdir: str) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--http", "app.serving:BoundedTargetHttpToolsProtocol", "--no-access-log",
        "--log-level", "warning",
    ]
    deployment.processes.append(subprocess.Popen(command, env=deployment.environment, cwd=workdir))
    deployment.urls.append(f"http://127.0.0.1:{port}")


def _wait_until_ready(deployment: Deployment) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    for url, process in zip(deployment.urls, deployment.processes, strict=True):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server on {url} exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on {url} did not get ready")
            time.sleep(0.1)


@contextmanager
def deploy(backend: str, *, processes: int, redis: bool, **settings: Any) -> Iterator[Deployment]:
    """`processes` API processes on a fresh database, with Redis or not, and `settings`
    (`stream_poll_seconds=60`, say) as environment variables."""
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as workdir:
        environment = {key: value for key, value in os.environ.items() if not key.startswith(INHERITED)}
        environment |= {
            "ENVIRONMENT": "test", "SECRET_KEY": SECRET_KEY, "DATABASE_URL": url,
            "LOAD_DEMO_CONTENT": "false", "LOG_LEVEL": "WARNING",
            **{name.upper(): str(value) for name, value in settings.items()},
        }
        if redis:
            prefix = f"tickerfeed-test-{secrets.token_hex(4)}"
            environment |= {"REDIS_URL": REDIS_URL, "SHARED_CACHE_PREFIX": prefix, "RATE_LIMIT_PREFIX": prefix}
        deployment = Deployment(database_url=url, environment=environment)
        deployment.key = _prepare(url)
        try:
            for _ in range(processes):
                _start(deployment, workdir)
            _wait_until_ready(deployment)
            yield deployment
        finally:
            for process in deployment.processes:
                process.terminate()
            for process in deployment.processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@dataclass(frozen=True)
class Message:
    """One event (`id`, `event`, `data` as JSON) or one comment line."""

    id: int | None = None
    event: str | None = None
    data: Any = None
    comment: str | None = None


class EventStream:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0, *, comments: bool = False) -> Message:
        """The next event (or comment, with `comments`) within `timeout` seconds."""
        return await asyncio.wait_for(self._next(comments), timeout)

    async def _next(self, comments: bool) -> Message:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line.startswith(":"):
                if comments:
                    return Message(comment=line[1:].strip())
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if fields:
                return Message(
                    id=int(fields["id"]) if "id" in fields else None, event=fields.get("event"),
                    data=orjson.loads(fields["data"]) if "data" in fields else None,
                )
        raise EOFError("the stream ended")

    async def events(self, count: int, timeout: float = 5.0) -> list[Message]:
        return [await self.next(timeout) for _ in range(count)]


@asynccontextmanager
async def open_stream(url: str, *, params: Any = None, headers: Any = None) -> AsyncIterator[EventStream]:
    """A stream open on `url`: once it yields, the server has subscribed it."""
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=None)) as client:
        async with client.stream("GET", "/v1/stream", params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield EventStream(response)
