"""A real SMTP server (aiosmtpd) on loopback, and an app that delivers to it."""

import asyncio
import email
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.delivery import DeliveryReport, deliver_due
from app.main import create_app
from app.settings import Settings
from tests.conftest import on_test_database

TOKEN = re.compile(r"token=([A-Za-z0-9_.-]+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collector:
    """Keeps every message it accepts; `reply` set to e.g. "451 …" makes it refuse instead."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []  # RCPT TO of each accepted message
        self.reply: str | None = None
        self.delay = 0.0  # seconds each message takes, for tests of slow servers

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply is not None:
            return self.reply
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append(message)  # type: ignore[arg-type]
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self) -> None:
        self.handler = Collector()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()


def plain_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def html_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def link_token(message: EmailMessage) -> str:
    found = TOKEN.search(plain_text(message))
    assert found, plain_text(message)
    return found.group(1)


def mail_settings(settings: Settings, smtp: SmtpServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_port": smtp.port,
        "smtp_timeout_seconds": 5,
        "public_api_url": "https://api.news.example",
        "rate_limit_subscribe_per_client": "1000/hour",
        "rate_limit_subscribe_per_email": "1000/hour",
        "rate_limit_confirm_per_client": "1000/hour",
        "redis_url": None,
    }
    return settings.model_copy(update=values | overrides)


def build_app(settings: Settings, engine: AsyncEngine, connection: AsyncConnection, sessionmaker: Any, clock: Any) -> Any:
    return on_test_database(create_app(settings), engine, connection, sessionmaker, clock)


@pytest.fixture
def app(
    settings: Settings, engine: AsyncEngine, connection: AsyncConnection, sessionmaker: Any, clock: Any,
    smtp: SmtpServer,
) -> Any:
    return build_app(mail_settings(settings, smtp), engine, connection, sessionmaker, clock)


async def deliver(app: Any, clock: Any, **options: Any) -> DeliveryReport:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return await deliver_due(sessionmaker, app.state.settings, clock=clock, **options)


def redis_url() -> str | None:
    """Redis backs the rate limits when the suite runs on PostgreSQL (several API processes)."""
    database = os.environ.get("TEST_DATABASE_URL", "sqlite")
    return (
        None
        if database.startswith("sqlite")
        else os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
    )


@pytest_asyncio.fixture
async def limiter_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its Redis keys are deleted afterwards, nobody else's."""
    prefix = f"tickerfeed-test-{uuid.uuid4().hex}"
    yield prefix
    url = redis_url()
    if url:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
