"""Issue 10, item 5: manage tokens never expired and every edition carried the same one, so
one leaked link (an access log, a forwarded mail) managed the subscription for good. They
now expire (`MANAGE_TOKEN_TTL_DAYS`) and each mail carries one minted when it is sent."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.newsletters.mailing import subscriber_links
from app.subscriptions import service
from tests.mail_fixtures import SmtpServer
from tests.subscriber_factories import confirm_by_mail, create_newsletter

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(autouse=True)
async def daily(session: AsyncSession) -> Any:
    return await create_newsletter(session, slug="daily", name="Daily")


async def me(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/v1/subscriptions/me", params={"token": token})).status_code


class TestManageTokenLifetime:
    async def test_a_manage_token_expires(
        self, app: Any, client: httpx.AsyncClient, smtp: SmtpServer, clock: Any
    ) -> None:
        token = (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"]
        ttl = timedelta(days=app.state.settings.manage_token_ttl_days)

        clock.now += ttl - timedelta(seconds=1)
        assert await me(client, token) == 200
        clock.now += timedelta(seconds=2)
        assert await me(client, token) == 401

    async def test_each_mail_carries_a_fresh_one_and_unsubscribe_links_keep_working(
        self, app: Any, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession,
        clock: Any,
    ) -> None:
        await confirm_by_mail(client, smtp, "me@example.com")
        subscriber = (await service.list_subscribers(
            session, status="active", newsletter_id=None, after=None, limit=1
        ))[0]
        settings = app.state.settings
        monday = subscriber_links(settings, subscriber, now=clock.now)
        clock.now += timedelta(days=1)
        tuesday = subscriber_links(settings, subscriber, now=clock.now)

        assert monday[0] != tuesday[0]  # the manage link is minted per mail
        clock.now += timedelta(days=settings.manage_token_ttl_days)
        assert await me(client, monday[0].split("token=")[1]) == 401
        leave = await client.get("/v1/subscriptions/unsubscribe", params={"token": monday[1].split("token=")[1]})
        assert leave.status_code == 200  # RFC 8058 links in old mails still unsubscribe
