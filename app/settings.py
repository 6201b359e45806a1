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
    # `json`: one JSON object a line (a request's line carries its id, route, status, duration
    # and cache outcome); `text` reads well in a terminal.
    log_format: Literal["text", "json"] = "text"
    # Unset: /metrics is served on the API's port. Set: only on this port, which a deployment
    # keeps off the public load balancer. METRICS_TOKEN, when set, is required as a bearer token.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_token: str | None = None
    # SIGTERM: /readyz answers 503 for the drain while requests are still served, so a load
    # balancer stops sending more; then new connections are refused and requests in flight get
    # the grace period to finish before they are cancelled.
    shutdown_drain_seconds: float = Field(default=5, ge=0, le=300)
    shutdown_grace_seconds: float = Field(default=20, ge=0, le=600)

    # Requests one process answers at once; more are refused with a 503 and Retry-After
    # (app/overload.py). Measured by 40 s soaks at twice one worker's capacity (2 cores): 32
    # served 76–87% of the capacity, 64 served 67% (p99 0.8 s; 80% in the 10-minute soak), 128 only 35% (p99 2.4 s), as
    # more requests in flight for the same cache keys all missed and rendered. 64 leaves
    # room beside a client's usual 32 connections (a writer beside wrk's, in bench W8).
    max_requests_in_flight: int = Field(default=64, ge=1)

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
    # `tickerfeed worker`: a claimed mail's lease, renewed every third of it while it is sent,
    # so a worker that dies holds its mail this long at most; the grace a stopping worker
    # gives its batch in flight; the file it touches after each round of work (`--check`).
    worker_lease_seconds: int = Field(default=45, ge=3, le=600)
    worker_shutdown_grace_seconds: float = Field(default=20, gt=0, le=600)
    worker_heartbeat_file: str = "/tmp/tickerfeed-worker.heartbeat"

    confirmation_token_ttl_hours: int = Field(default=48, ge=1, le=24 * 30)
    confirmation_resend_minutes: int = Field(default=15, ge=0)
    # A manage link in a mail or a log stops working after this; each mail carries a new one.
    manage_token_ttl_days: int = Field(default=7, ge=1, le=365)
    consent_text_version: str = "2026-11-01"
    edition_max_articles: int = Field(default=30, ge=1, le=100)
    # `tickerfeed changes prune` drops changes older than this that no mirror starting
    # afresh needs; unset keeps every change forever.
    changes_retention_days: int | None = Field(default=None, ge=1)

    # `GET /v1/stream` (app/stream): a comment line this often keeps proxies from closing a
    # quiet stream; each process reads the log this often even without a notification
    # (a lost one delays an event, never loses it); a client more than `stream_queue_events`
    # events behind is closed and resumes by Last-Event-ID, and one whose socket takes no
    # data for `stream_send_timeout_seconds` is dropped; at most `stream_max_clients`
    # streams per process, a 503 beyond.
    stream_heartbeat_seconds: float = Field(default=15, gt=0)
    stream_poll_seconds: float = Field(default=2, gt=0)
    stream_queue_events: int = Field(default=256, ge=1)
    stream_send_timeout_seconds: float = Field(default=30, gt=0)
    stream_max_clients: int = Field(default=2000, ge=1)

    # Webhooks (issue 12, item 3). Production only delivers to `https://` URLs on public
    # addresses; WEBHOOKS_ALLOW_PRIVATE_TARGETS (refused in production) also allows loopback
    # and plain http, for development and tests.
    webhooks_allow_private_targets: bool = False
    webhook_connect_timeout_seconds: float = Field(default=5, gt=0, le=60)
    # The whole attempt: connect, send, and the response's head and (capped) body.
    webhook_timeout_seconds: float = Field(default=15, gt=0, le=120)
    webhook_max_response_bytes: int = Field(default=65_536, ge=0, le=1_048_576)
    webhook_retry_base_seconds: float = Field(default=5, gt=0)
    webhook_max_backoff_seconds: float = Field(default=4 * 3600, gt=0)
    # An event is retried until this long after its first attempt, then given up.
    webhook_retry_hours: float = Field(default=24, gt=0)
    # An endpoint whose attempts have all failed for this long is disabled.
    webhook_disable_after_hours: float = Field(default=72, gt=0)

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

    @field_validator("smtp_user", "smtp_password", mode="before")
    @classmethod
    def unset_when_empty(cls, value: object) -> object:
        # Compose passes `SMTP_USER: ${SMTP_USER:-}` as an empty string: no login, not an empty one.
        return None if value == "" else value

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
        if self.environment == "production" and self.webhooks_allow_private_targets:
            # Webhooks would reach the cloud's metadata service and every internal address.
            raise ValueError("WEBHOOKS_ALLOW_PRIVATE_TARGETS cannot be set in production")
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
