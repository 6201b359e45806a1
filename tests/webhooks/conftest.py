"""Webhook tests: an app that allows loopback targets (the receivers listen on
127.0.0.1), an admin key, and the deliverer run on the test's database and clock."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.main import create_app
from app.settings import Settings
from app.webhooks.delivery import WebhookReport, run_deliveries
from app.webhooks.targets import Resolver, system_resolver
from tests.conftest import Clock, bearer, like


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_private_targets": True, "webhook_timeout_seconds": 1.0})


@pytest.fixture
def hooks_app(app: Any, hook_settings: Settings) -> Any:
    return like(create_app(hook_settings), app)


@pytest_asyncio.fixture
async def hooks_client(hooks_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hooks_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest_asyncio.fixture
async def admin(session: AsyncSession) -> dict[str, str]:
    return await bearer(session, Scope.ADMIN)


class Deliverer:
    """`tickerfeed webhooks deliver` (one pass) on the test's database, clock and settings."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self.sessionmaker, self.settings, self.clock = sessionmaker, settings, clock
        self.resolver: Resolver = system_resolver

    async def __call__(self, **options: Any) -> WebhookReport:
        options = {"clock": self.clock, "resolver": self.resolver, "jitter": lambda: 1.0} | options
        return await run_deliveries(self.sessionmaker, options.pop("settings", self.settings), **options)


@pytest.fixture
def deliver(sessionmaker: async_sessionmaker[AsyncSession], hook_settings: Settings, clock: Clock) -> Deliverer:
    return Deliverer(sessionmaker, hook_settings, clock)


async def create_endpoint(client: httpx.AsyncClient, admin: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["article.published", "article.updated", "article.unpublished", "article.deleted", "webhook.test"]}
    response = await client.post("/v1/webhooks", json=body | fields, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()
