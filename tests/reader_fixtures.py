"""Readers for tests, signed in through the API and a real SMTP server (aiosmtpd)."""

from itertools import count
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.main import create_app
from app.settings import Settings
from tests.conftest import like
from tests.mail_fixtures import SmtpServer, build_app, link_token, mail_settings

_sequence = count(1)
GENEROUS = {
    "rate_limit_sign_in_per_client": "10000/hour",
    "rate_limit_sign_in_per_email": "10000/hour",
    "rate_limit_comment_per_reader": "10000/hour",
    "rate_limit_comment_per_client": "10000/hour",
    "rate_limit_report_per_reader": "10000/hour",
}


def reader_settings(settings: Settings, smtp: SmtpServer, **overrides: Any) -> Settings:
    return mail_settings(settings, smtp, **GENEROUS | overrides)


def client_with(app: Any, settings: Settings, smtp: SmtpServer, **overrides: Any) -> httpx.AsyncClient:
    """A client of a second app on the same test database, with other settings."""
    other = like(create_app(reader_settings(settings, smtp, **overrides)), app)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://testserver")


@pytest.fixture
def app(
    settings: Settings, engine: AsyncEngine, connection: AsyncConnection, sessionmaker: Any, clock: Any,
    smtp: SmtpServer,
) -> Any:
    return build_app(reader_settings(settings, smtp), engine, connection, sessionmaker, clock)


async def sign_in(client: httpx.AsyncClient, smtp: SmtpServer, email: str | None = None) -> dict[str, Any]:
    """Asks for a link, takes it from the mail that arrived, confirms: `{reader, session_token}`."""
    email = email or f"reader{next(_sequence)}@example.com"
    asked = await client.post("/v1/readers/sign-in", json={"email": email})
    assert asked.status_code == 202, asked.text
    mails = smtp.handler.to(email)
    assert mails, "no sign-in mail arrived"
    confirmed = await client.post("/v1/readers/sign-in/confirm", json={"token": link_token(mails[-1])})
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()


def auth(signed_in: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {signed_in['session_token']}"}


async def named_reader(client: httpx.AsyncClient, smtp: SmtpServer, name: str = "Ada", email: str | None = None) -> dict[str, str]:
    """Headers of a signed-in reader with a display name."""
    headers = auth(await sign_in(client, smtp, email))
    response = await client.patch("/v1/readers/me", json={"display_name": name}, headers=headers)
    assert response.status_code == 200, response.text
    return headers
