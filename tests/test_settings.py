"""Settings refuse configurations that would break a multi-process production deployment."""

import pytest
from pydantic import ValidationError

from app.settings import Settings

POSTGRESQL = "postgresql+asyncpg://tickerfeed@db/tickerfeed"


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
        environment="production", secret_key="s3cret", database_url=POSTGRESQL, redis_url="redis://r:6379/0"
    )
    assert configured.redis_url == "redis://r:6379/0"


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
