"""An app on a database of its own, committing for real: concurrent writers need separate
connections, which the rolled-back test connection cannot give."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.db import utcnow
from app.main import create_app
from app.settings import Settings
from tests.conftest import migrated_database


@pytest.fixture
def own_database_url() -> Iterator[str]:
    with migrated_database("changes.db") as url:
        yield url


class SettableClock:
    """Real time until `stop`ped: scheduled articles come due as the test runs."""

    def __init__(self) -> None:
        self.stopped_at: datetime | None = None

    def __call__(self) -> datetime:
        return self.stopped_at or utcnow()

    def stop(self) -> datetime:
        self.stopped_at = utcnow()
        return self.stopped_at


@dataclass
class LiveApp:
    app: Any
    clock: SettableClock
    sessionmaker: async_sessionmaker[AsyncSession]
    headers: dict[Scope, dict[str, str]]

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest_asyncio.fixture
async def live(settings: Settings, own_database_url: str) -> AsyncIterator[LiveApp]:
    config = settings.model_copy(update={"database_url": own_database_url, "database_pool_size": 8})
    app = create_app(config)
    clock = app.state.clock = SettableClock()
    async with app.router.lifespan_context(app):
        headers = {}
        async with app.state.sessionmaker() as session:
            for scope in (Scope.ADMIN, Scope.FEEDS_FULL):
                _, plaintext = await keys_service.create_key(session, name=str(scope), scopes=[scope])
                headers[scope] = {"Authorization": f"Bearer {plaintext}"}
            await session.commit()
        yield LiveApp(app, clock, app.state.sessionmaker, headers)
