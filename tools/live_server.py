"""A live tickerfeed server for the checks in tools/ that call it over HTTP (the generated
Python client, the fuzzer): `tickerfeed serve` (uvicorn, as in production) on a free port,
run from a folder of its own so the checkout's `.env` and a developer's settings stay out,
and keys made with `tickerfeed keys create`, as an operator makes them.
"""

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 60
BIN = Path(sys.executable).parent
# Settings a developer's shell may hold that would point the server elsewhere (Redis, another
# database, other links or limits): each check says its own.
FOREIGN_SETTINGS = ("REDIS_", "RATE_LIMIT_", "SHARED_CACHE", "DATABASE_", "PUBLIC_", "ENVIRONMENT", "SECRET_KEY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without FOREIGN_SETTINGS, plus `settings`."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN_SETTINGS)}
    return kept | {"LOG_LEVEL": "WARNING"} | settings


@contextmanager
def serving(workdir: Path, settings: dict[str, str]) -> Iterator[str]:
    """Migrates, loads the demo content into an empty database and serves; yields the base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "tickerfeed"), "serve", "--port", str(port)],
        cwd=workdir,
        env=environment({"PUBLIC_API_URL": url} | settings),
    )
    try:
        wait_until_ready(server, url)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_ready(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"the server did not get ready in {STARTUP_SECONDS} s")


def create_key(workdir: Path, settings: dict[str, str], *scopes: str) -> str:
    """A new API key with `scopes`, from the CLI (the last line it prints is the key)."""
    command = [str(BIN / "tickerfeed"), "keys", "create", "--name", "live check"]
    for scope in scopes:
        command += ["--scope", scope]
    done = subprocess.run(
        command, cwd=workdir, env=environment(settings), check=True, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def postgresql_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database `<prefix>_<random>` on `server_url`'s server, dropped afterwards (its
    connections ended: no other run knows the name); yields its URL."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    url = make_url(server_url).set(database=f"{prefix}_{secrets.token_hex(4)}")

    async def run(statement: str) -> None:
        admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await admin.dispose()

    asyncio.run(run(f'CREATE DATABASE "{url.database}"'))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
