"""The `tickerfeed` command as a newcomer meets it: one-line errors, `--version`, and `serve`
with the mail catcher beside it (issue 11)."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from app.articles.documents import CARD_REVISION
from app.cli import main
from app.settings import get_settings
from tests.mail_fixtures import free_port

TICKERFEED = str(Path(sys.executable).parent / "tickerfeed")
TEST_ENVIRONMENT = {"ENVIRONMENT": "test", "SECRET_KEY": "test-secret"}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Runs the command line in a folder of its own (no `.env`), with settings read afresh."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, **environment: str):
        get_settings.cache_clear()
        result = CliRunner().invoke(main, args, env=TEST_ENVIRONMENT | environment, catch_exceptions=False)
        get_settings.cache_clear()
        return result

    yield invoke
    get_settings.cache_clear()


def assert_one_line_error(result, exit_code: int, message: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    assert result.stderr == f"tickerfeed: {message}\n"


class TestErrors:
    def test_bad_argument(self, run):
        assert_one_line_error(
            run("keys", "revoke", "abc"), 2, "Invalid value for 'KEY_ID': 'abc' is not a valid integer."
        )

    def test_unknown_command(self, run):
        assert_one_line_error(run("nosuch"), 2, "No such command 'nosuch'.")

    def test_revoking_a_key_that_does_not_exist(self, run, database_url):
        assert_one_line_error(run("keys", "revoke", "999999", DATABASE_URL=database_url), 1, "No API key with id 999999.")

    def test_unmigrated_database(self, run, tmp_path):
        result = run("keys", "list", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")

        assert_one_line_error(
            result, 1, "cannot use the database (DATABASE_URL): no such table: api_key (run `tickerfeed migrate`)"
        )

    def test_unreachable_sqlite_database(self, run, tmp_path):
        result = run("migrate", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'db'}")

        assert_one_line_error(result, 1, "cannot use the database (DATABASE_URL): unable to open database file")

    def test_unreachable_postgresql_database(self, run):
        result = run("keys", "list", DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")

        assert result.exit_code == 1
        assert result.stderr.startswith("tickerfeed: cannot use the database (DATABASE_URL): ")
        assert result.stderr.count("\n") == 1

    def test_bad_settings(self, run):
        assert_one_line_error(
            run("migrate", SMTP_PORT="abc"), 1,
            "invalid settings: SMTP_PORT: Input should be a valid integer, unable to parse string as an integer",
        )
        assert_one_line_error(
            run("migrate", ENVIRONMENT="production"), 1, "invalid settings: PUBLIC_API_URL must be set in production"
        )

    def test_no_traceback_from_the_installed_command(self, tmp_path):
        environment = os.environ | TEST_ENVIRONMENT | {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'none' / 'db'}"}
        done = subprocess.run(
            [TICKERFEED, "keys", "revoke", "1"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
        )

        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr == "tickerfeed: cannot use the database (DATABASE_URL): unable to open database file\n"


def test_version(run):
    result = run("--version")

    assert result.exit_code == 0
    assert result.stdout.startswith("tickerfeed ")


def newcomer_environment(smtp_port: int) -> dict[str, str]:
    """The environment of a fresh checkout: development said by `.env`, nothing else set."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("DATABASE_", "PUBLIC_", "SMTP_", "ENVIRONMENT", "SECRET_KEY", "REDIS"))}
    return inherited | {"SMTP_PORT": str(smtp_port), "PYTHONUNBUFFERED": "1"}


def wait_for(url: str, seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_until(process: subprocess.Popen, marker: str, seconds: float = 30) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not seen in {''.join(seen)!r}")


@pytest.fixture
def newcomer(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], int]]:
    """`tickerfeed serve --port P` in a folder like a fresh checkout after `make run`."""
    (tmp_path / ".env").write_text("ENVIRONMENT=development\n")
    port, environment = free_port(), newcomer_environment(free_port())
    server = subprocess.Popen(
        [TICKERFEED, "serve", "--port", str(port)], cwd=tmp_path, env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield tmp_path, environment, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mail_catcher_started_first_on_a_fresh_checkout(tmp_path):
    """The walkthrough's first step: no database yet, so the catcher makes it."""
    (tmp_path / ".env").write_text("ENVIRONMENT=development\n")
    catcher = subprocess.Popen(
        [TICKERFEED, "mail-catcher"], cwd=tmp_path, env=newcomer_environment(free_port()),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        read_until(catcher, "catching mail on 127.0.0.1:")
        time.sleep(1)
        assert catcher.poll() is None, catcher.stdout.read()
    finally:
        catcher.terminate()
        catcher.wait(timeout=30)


class TestServeInDevelopment:
    def test_links_follow_the_served_address(self, newcomer):
        folder, _, port = newcomer
        links = httpx.get(f"http://127.0.0.1:{port}/v1").json()["links"]

        assert links["articles"] == f"http://127.0.0.1:{port}/v1/articles"
        assert (folder / ".tickerfeed-served-url").read_text() == f"http://127.0.0.1:{port}\n"

    def test_mail_catcher_sends_the_mail_that_waited(self, newcomer):
        """A newcomer subscribes before starting the catcher: the confirmation found no SMTP
        server and waits a minute for a retry; starting the catcher sends it at once."""
        folder, environment, port = newcomer
        subscribed = httpx.post(
            f"http://127.0.0.1:{port}/v1/subscriptions",
            json={"email": "you@example.com", "newsletters": ["daily-headlines"], "tickers": ["NVDA"]},
        )
        assert subscribed.status_code == 202, subscribed.text

        catcher = subprocess.Popen(
            [TICKERFEED, "mail-catcher"], cwd=folder, env=environment, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        try:
            printed = read_until(catcher, "delivered the mail that was waiting")
        finally:
            catcher.terminate()
            catcher.wait(timeout=30)

        assert "To: you@example.com" in printed
        assert "confirm?token=" in printed


class TestMigrate:
    def test_rebuilds_the_stored_cards_an_older_version_built(self, run, tmp_path):
        """Cards are data the code owns (app.articles.documents): `migrate` brings them up
        to date, here one a bulk load left empty."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}"
        assert run("migrate", DATABASE_URL=url).exit_code == 0
        with sqlite3.connect(tmp_path / "cards.db") as db:
            db.execute(
                "INSERT INTO author (id, slug, name, kind, bio, expertise, links, created_at, updated_at) "
                "VALUES (1, 'ada', 'Ada', 'human', '', '[]', '[]', '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
            )
            db.execute(
                "INSERT INTO article (id, slug, title, dek, body_markdown, body_html, word_count, reading_time_minutes, "
                "status, author_id, created_at, updated_at) VALUES (1, 'loaded', 'Loaded', '', 'x', '<p>x</p>', 1, 1, "
                "'draft', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
            )

        result = run("migrate", DATABASE_URL=url)

        assert (result.exit_code, result.stdout) == (0, "rebuilt 1 stored cards\ndatabase is at the latest revision\n")
        with sqlite3.connect(tmp_path / "cards.db") as db:
            card, revision = db.execute("SELECT card, card_revision FROM article").fetchone()
        assert json.loads(card)["author"]["name"] == "Ada" and revision == CARD_REVISION
        assert run("migrate", DATABASE_URL=url).stdout == "database is at the latest revision\n"
