"""Fault tests (issue 13): each runs real processes — its own PostgreSQL (initdb into a
temporary folder, on a free port), its own redis-server, `tickerfeed serve` and
`tickerfeed worker` subprocesses — and breaks one of them. Never the machine's shared
servers. Deselected by default; `make faults` runs them (`-m faults`).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.db import create_engine
from app.settings import Settings

from tests.mail_fixtures import free_port

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
TICKERFEED = str(Path(sys.executable).parent / "tickerfeed")


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class OwnPostgres:
    """A throwaway PostgreSQL cluster: `stop()` and `start()` are the fault."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/tickerfeed"

    def _run(self, *arguments: str) -> None:
        subprocess.run(as_postgres([str(PG_BIN / arguments[0]), *arguments[1:]]), check=True, capture_output=True)

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "tickerfeed"],
            check=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def postgres() -> Iterator[OwnPostgres]:
    root = Path(tempfile.mkdtemp(prefix="tickerfeed-faults-pg-"))
    server = OwnPostgres(root)
    server.create()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # stopped already
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()


@pytest.fixture
def redis() -> Iterator[OwnRedis]:
    """The shared cache's server (REDIS_URL)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def limits_redis() -> Iterator[OwnRedis]:
    """The rate-limit counters' server (RATE_LIMIT_REDIS_URL), apart as in production."""
    with running_redis() as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The subprocesses' working folder: no checkout `.env` reaches them."""
    return tmp_path


def app_environment(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("REDIS_", "RATE_LIMIT_", "DATABASE_", "SMTP_", "WORKER_", "TEST_"))
    }
    return environment | {
        "ENVIRONMENT": "test",
        "SECRET_KEY": "fault-test-secret",
        "DATABASE_URL": database_url,
        "PUBLIC_API_URL": "http://127.0.0.1:8000",
        "LOAD_DEMO_CONTENT": "true",
        "WORKER_HEARTBEAT_FILE": str(workdir / "worker.heartbeat"),
        "LOG_LEVEL": "WARNING",
    } | extra


def tickerfeed(environment: dict[str, str], workdir: Path, *arguments: str) -> str:
    done = subprocess.run(
        [TICKERFEED, *arguments], env=environment, cwd=workdir, capture_output=True, text=True, check=True
    )
    return done.stdout


def write_key(environment: dict[str, str], workdir: Path) -> str:
    """A new key with scope content:write."""
    created = tickerfeed(environment, workdir, "keys", "create", "--name", "faults", "--scope", "content:write")
    return created.split()[-1]


class Api:
    """`tickerfeed serve` on a free port, as a subprocess."""

    def __init__(self, environment: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "api.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [TICKERFEED, "serve", "--port", str(self.port)],
            env=environment | {"PUBLIC_API_URL": self.url}, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (workdir / "api.log").read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not get ready"
            time.sleep(0.2)
        self.author = httpx.get(f"{self.url}/v1/authors").json()["items"][0]["slug"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def start_worker(environment: dict[str, str], workdir: Path, log: str, *options: str) -> subprocess.Popen[bytes]:
    """`tickerfeed worker [options]` as a subprocess, its output in `workdir / log`."""
    return subprocess.Popen(
        [TICKERFEED, "worker", *options],
        env=environment, cwd=workdir, stdout=open(workdir / log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )


async def stored_titles(database_url: str) -> set[str]:
    """Titles of the articles the load wrote (`tests.faults.load.unique_title`)."""
    settings = Settings(environment="test", database_url=database_url, secret_key="x", _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT title FROM article WHERE title LIKE 'Fault test %'"))
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


def report(title: str, **numbers: Any) -> None:
    """The measurements, printed (`make faults` runs with -s) and kept in the test log."""
    line = f"FAULT {title}: " + ", ".join(f"{name}={value}" for name, value in numbers.items())
    print("\n" + line)


from tests.mail_fixtures import smtp  # noqa: E402,F401  (fixture)
