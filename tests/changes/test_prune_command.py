"""`tickerfeed changes prune`: the setting, the option, and what it reports."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.settings import get_settings

ENVIRONMENT = {"ENVIRONMENT": "test", "SECRET_KEY": "test-secret"}


def run(*args: str, **environment: str) -> str:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, args, env=ENVIRONMENT | environment, catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(autouse=True)
def no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_keeps_everything_without_a_retention(own_database_url: str) -> None:
    assert run("changes", "prune", DATABASE_URL=own_database_url) == "CHANGES_RETENTION_DAYS is not set: every change is kept.\n"


def test_prunes_after_the_retention_or_the_option(own_database_url: str) -> None:
    output = run("changes", "prune", DATABASE_URL=own_database_url, CHANGES_RETENTION_DAYS="30")
    assert output == "pruned 0 changes older than 30 days\n"
    output = run("changes", "prune", "--older-than-days", "7", DATABASE_URL=own_database_url)
    assert output == "pruned 0 changes older than 7 days\n"
