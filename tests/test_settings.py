"""Settings refuse configurations that would break a multi-process production deployment."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import DEVELOPMENT_SECRET, Settings

POSTGRESQL = "postgresql+asyncpg://tickerfeed@db/tickerfeed"
API_URL = "https://api.news.example"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_production_needs_its_own_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        settings(environment="production", database_url=POSTGRESQL, redis_url="redis://r:6379/0")


def test_production_on_postgresql_needs_redis_for_shared_rate_limits() -> None:
    with pytest.raises(ValidationError, match="REDIS_URL must be set"):
        settings(environment="production", secret_key="s3cret", database_url=POSTGRESQL)


def test_production_on_postgresql_with_redis_is_accepted() -> None:
    configured = settings(
        environment="production",
        secret_key="s3cret",
        database_url=POSTGRESQL,
        redis_url="redis://r:6379/0",
        rate_limit_redis_url="redis://limits:6379/0",
        public_api_url=API_URL,
    )
    assert configured.redis_url == "redis://r:6379/0"
    assert configured.rate_limit_storage_url == "redis://limits:6379/0"


@pytest.mark.parametrize("rate_limit_redis_url", [None, "redis://r/1", "redis://r:6379/0"])
def test_production_keeps_rate_limits_off_the_cache_server(rate_limit_redis_url: str | None) -> None:
    # Issue 10: cached responses under the cache's eviction policy evicted a limiter's counter.
    with pytest.raises(ValidationError, match="RATE_LIMIT_REDIS_URL must name another Redis server"):
        settings(
            environment="production", secret_key="s3cret", database_url=POSTGRESQL, redis_url="redis://r:6379/0",
            rate_limit_redis_url=rate_limit_redis_url,
        )


def test_without_the_shared_cache_rate_limits_may_use_redis_url() -> None:
    configured = settings(
        environment="production", secret_key="s3cret", database_url=POSTGRESQL, redis_url="redis://r:6379/0",
        public_api_url=API_URL, shared_cache=False,
    )
    assert configured.rate_limit_storage_url == "redis://r:6379/0"


class TestPublicApiUrl:
    """Issue 10, item 7: every absolute link to the API is PUBLIC_API_URL plus a path."""

    def test_production_needs_it_said(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("PUBLIC_API_URL", raising=False)
        with pytest.raises(ValidationError, match="PUBLIC_API_URL must be set in production"):
            settings(environment="production", secret_key="s3cret")

    def test_a_path_is_kept_and_a_trailing_slash_dropped(self) -> None:
        configured = settings(environment="development", public_api_url="https://a.example/api/")
        assert configured.api_url == "https://a.example/api"

    @pytest.mark.parametrize(
        "url",
        [
            "https://a.example/?q=1",
            "https://a.example/#top",
            "https://user:pw@a.example",
            "ftp://a.example",
        ],
    )
    def test_is_a_base_url_and_nothing_more(self, url: str) -> None:
        with pytest.raises(ValidationError, match="public_api_url"):
            settings(environment="development", public_api_url=url)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_database_urls_use_the_async_drivers(given: str, used: str) -> None:
    assert settings(database_url=given).database_url == used


def test_cors_origins_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert settings().cors_origins == ["https://a.example", "https://b.example"]


class TestDevelopmentSecret:
    """Issue 10, item 9: the built-in secret is in the source, so anyone can sign cursors
    and subscriber links with it. It was accepted everywhere but ENVIRONMENT=production,
    and the Docker image set no ENVIRONMENT; now only an explicit development runs with it."""

    def test_is_refused_when_environment_is_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("ENVIRONMENT", raising=False)
        monkeypatch.delenv("SECRET_KEY", raising=False)

        with pytest.raises(ValidationError, match="SECRET_KEY must be set unless ENVIRONMENT=development"):
            settings()

    @pytest.mark.parametrize("environment", ["test", "production"])
    def test_is_refused_in_every_other_environment(self, environment: str) -> None:
        with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
            settings(environment=environment)

    def test_is_accepted_when_development_is_explicit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENVIRONMENT", "development")
        monkeypatch.delenv("SECRET_KEY", raising=False)

        assert settings().secret_key == DEVELOPMENT_SECRET

    def test_a_dotenv_file_may_say_development(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("ENVIRONMENT", raising=False)
        monkeypatch.delenv("SECRET_KEY", raising=False)
        (tmp_path / ".env").write_text("ENVIRONMENT=development\n")

        configured = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]

        assert configured.environment == "development"

    def test_unset_environment_means_production(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A deployment that says nothing gets production's checks, Redis on PostgreSQL too."""
        monkeypatch.delenv("ENVIRONMENT", raising=False)

        assert settings(secret_key="s3cret", public_api_url=API_URL).environment == "production"
        with pytest.raises(ValidationError, match="REDIS_URL must be set"):
            settings(secret_key="s3cret", database_url=POSTGRESQL)
