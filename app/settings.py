"""Runtime configuration, read from the environment and an optional `.env` file."""

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, field_validator, model_validator
from limits import parse_many
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# In the source, so public: only a process told ENVIRONMENT=development may sign with it.
DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Unset is production: a deployment that forgets to say gets production's checks (its
    # own SECRET_KEY; REDIS_URL on PostgreSQL). `make run` says development.
    environment: Literal["development", "test", "production"] = "production"
    database_url: str = "sqlite+aiosqlite:///./tickerfeed.db"
    # Unset: 10 on PostgreSQL; 2 on SQLite, whose queries run on this machine's own cores
    # in one thread per connection, where more connections only contend (issue 9: W1 558
    # req/s with 2, 408 with 10; a search's peak memory 127 MB with 2, 185 MB with 10).
    database_pool_size: int | None = Field(default=None, ge=1, le=200)
    secret_key: str = DEVELOPMENT_SECRET
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000", "http://localhost:5173"]
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_path_bytes: int = Field(default=1024, ge=256, le=16384)
    max_query_string_bytes: int = Field(default=4096, ge=256, le=16384)
    default_page_size: int = Field(default=20, ge=1, le=100)
    max_page_size: int = Field(default=100, ge=1, le=100)

    public_site_url: AnyHttpUrl = AnyHttpUrl("http://localhost:3000")
    # Where clients reach this API: every absolute link to it (`GET /v1`, `Link: rel="next"`,
    # feed self links, mail links) is this plus a path, never the request's Host header.
    public_api_url: AnyHttpUrl = AnyHttpUrl("http://localhost:8000")
    load_demo_content: bool = True

    # The default target is a local catcher (`python -m aiosmtpd -n -l 127.0.0.1:1025`), so no
    # mail leaves the machine until SMTP_HOST is configured.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    mail_sender: str = "Tickerfeed <newsletter@localhost>"
    send_mail_on_request: bool = True
    mail_max_attempts: int = Field(default=8, ge=1, le=50)
    mail_retry_base_seconds: int = Field(default=60, ge=1)
    mail_lease_seconds: int = Field(default=300, ge=10)

    confirmation_token_ttl_hours: int = Field(default=48, ge=1, le=24 * 30)
    confirmation_resend_minutes: int = Field(default=15, ge=0)
    # A manage link in a mail or a log stops working after this; each mail carries a new one.
    manage_token_ttl_days: int = Field(default=7, ge=1, le=365)
    consent_text_version: str = "2026-11-01"
    edition_max_articles: int = Field(default=30, ge=1, le=100)

    redis_url: str | None = None
    # With REDIS_URL set, every API process shares one cache of whole public responses
    # (app/caching/shared.py); SHARED_CACHE=false keeps Redis for rate limits only.
    shared_cache: bool = True
    shared_cache_prefix: str = "tickerfeed:cache"
    shared_cache_ttl_seconds: int = Field(default=600, ge=1)
    shared_cache_timeout_seconds: float = Field(default=0.25, gt=0, le=5)
    # Larger responses are answered but not stored: with the TTL, this bounds one entry.
    shared_cache_max_response_bytes: int = Field(default=262_144, ge=1024, le=16_777_216)
    # Searches are stored in one spelling each, and at most this many at once.
    shared_cache_free_text_entries: int = Field(default=1000, ge=0, le=100_000)
    # Eviction is per Redis server: counters on the cache's server can be evicted by
    # cached responses (issue 10), so production keeps them on a `noeviction` server.
    rate_limit_redis_url: str | None = None
    rate_limit_prefix: str = "tickerfeed"
    rate_limit_subscribe_per_client: str = "20/hour"
    rate_limit_subscribe_per_email: str = "5/hour"
    rate_limit_confirm_per_client: str = "30/hour"
    rate_limit_search_per_client: str = "120/minute"
    # Readers and comments (issue 14).
    rate_limit_sign_in_per_client: str = "10/minute;60/hour"
    rate_limit_sign_in_per_email: str = "5/hour"
    rate_limit_comment_per_reader: str = "5/minute;60/day"
    rate_limit_comment_per_client: str = "20/minute;300/day"
    rate_limit_report_per_reader: str = "30/hour"
    sign_in_token_ttl_minutes: int = Field(default=15, ge=1, le=60)
    reader_session_ttl_days: int = Field(default=30, ge=1, le=365)
    # A reader with this many approved comments posts straight away (0: everyone does).
    comment_trust_threshold: int = Field(default=3, ge=0)
    comment_edit_minutes: int = Field(default=15, ge=0)
    # More links than this hold a comment for moderation, however trusted its reader.
    comment_max_links: int = Field(default=2, ge=0)
    # Peers whose X-Forwarded-For is believed (addresses or CIDR blocks of your load balancers).
    trusted_proxies: Annotated[list[str], NoDecode] = []

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def check_networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)
        return networks

    @field_validator("public_site_url", "public_api_url")
    @classmethod
    def check_base_url(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        # Links are this plus a path: a query, fragment or password would end up in every one.
        if url.query or url.fragment or url.username or url.password:
            raise ValueError("expected a base URL: scheme, host, port and path only")
        return url

    @field_validator(
        "rate_limit_subscribe_per_client", "rate_limit_subscribe_per_email", "rate_limit_confirm_per_client",
        "rate_limit_search_per_client", "rate_limit_sign_in_per_client", "rate_limit_sign_in_per_email",
        "rate_limit_comment_per_reader", "rate_limit_comment_per_client", "rate_limit_report_per_reader",
    )
    @classmethod
    def check_rate_limit(cls, value: str) -> str:
        parse_many(value)
        return value

    @field_validator("database_url")
    @classmethod
    def use_async_driver(cls, url: str) -> str:
        # Hosting platforms hand out plain postgres:// URLs; the app only speaks asyncpg.
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
        return url

    @model_validator(mode="after")
    def refuse_unsafe_production(self) -> "Settings":
        if self.secret_key == DEVELOPMENT_SECRET and self.environment != "development":
            # Anyone can sign cursors and subscriber links with a secret from the source.
            raise ValueError(
                "SECRET_KEY must be set unless ENVIRONMENT=development "
                "(the built-in development secret is public)"
            )
        if self.environment == "production" and not self.is_sqlite and not self.redis_url:
            # Several processes share one PostgreSQL; in-memory rate limits would be per process.
            raise ValueError("REDIS_URL must be set in production on PostgreSQL")
        if self.environment == "production" and self.shares_a_server_with_the_cache():
            raise ValueError(
                "RATE_LIMIT_REDIS_URL must name another Redis server than REDIS_URL (one with "
                "maxmemory-policy noeviction) while SHARED_CACHE is on: cached responses would evict rate limits"
            )
        if self.environment == "production" and "public_api_url" not in self.model_fields_set:
            # The development default would point every absolute link at localhost.
            raise ValueError("PUBLIC_API_URL must be set in production")
        if self.default_page_size > self.max_page_size:
            raise ValueError("DEFAULT_PAGE_SIZE cannot exceed MAX_PAGE_SIZE")
        return self

    @property
    def rate_limit_storage_url(self) -> str | None:
        """Where rate-limit counters live: their own server, else (development) REDIS_URL."""
        return self.rate_limit_redis_url or self.redis_url

    def shares_a_server_with_the_cache(self) -> bool:
        """True when the rate limits would sit on the shared cache's Redis server. Another
        database number on the same server does not help: maxmemory and eviction are per server."""
        if not (self.redis_url and self.shared_cache):
            return False
        limits = self.rate_limit_storage_url
        return limits is not None and _redis_server(limits) == _redis_server(self.redis_url)

    @property
    def pool_size(self) -> int:
        if self.database_pool_size is not None:
            return self.database_pool_size
        return 2 if self.is_sqlite else 10

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def site_url(self) -> str:
        return str(self.public_site_url).rstrip("/")

    @property
    def api_url(self) -> str:
        return str(self.public_api_url).rstrip("/")


def _redis_server(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return ("", 0, parts.path)
    return (parts.hostname or "localhost", parts.port or 6379, "")


@lru_cache
def get_settings() -> Settings:
    return Settings()
