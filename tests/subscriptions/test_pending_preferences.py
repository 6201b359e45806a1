"""Issue 10, item 3: a second subscribe request for a pending address, from anyone, used to
overwrite what the owner was about to confirm. The victim asked for Daily and got a mail
saying so; an attacker asked for Other for the same address (202, no mail within the
resend window); the victim's click then confirmed Other. What a link confirms is now
bound to its token: exactly what its mail showed, with the consent record of that request."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.factories import create_ticker
from tests.mail_fixtures import SmtpServer, link_token
from tests.subscriber_factories import create_newsletter, subscribe

pytestmark = pytest.mark.asyncio
ATTACKER_ADDRESS = "198.51.100.7"


@pytest_asyncio.fixture(autouse=True)
async def newsletters(session: AsyncSession) -> None:
    await create_newsletter(session, slug="daily", name="Daily")
    await create_newsletter(session, slug="other", name="Other")
    await create_ticker(session, "NVDA")


@pytest_asyncio.fixture
async def attacker(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another client, from another address, knowing only the victim's email address."""
    transport = httpx.ASGITransport(app=app, client=(ATTACKER_ADDRESS, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def confirm(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/v1/subscriptions/confirm", json={"token": token})
    assert response.status_code == 200, response.text
    return response.json()


class TestPendingPreferences:
    async def test_a_second_request_cannot_change_what_the_first_link_confirms(
        self,
        client: httpx.AsyncClient,
        attacker: httpx.AsyncClient,
        smtp: SmtpServer,
        admin: dict[str, str],
    ) -> None:
        await subscribe(client, "victim@example.com")
        [mail] = smtp.messages
        assert "Confirm your subscription to Daily" in mail["Subject"]

        hijack = await subscribe(
            attacker, "victim@example.com", newsletters=["other"], tickers=["NVDA"]
        )
        assert hijack.status_code == 202 and len(smtp.messages) == 1

        confirmed = await confirm(client, link_token(mail))
        assert (confirmed["newsletters"], confirmed["tickers"]) == (["daily"], [])
        [listed] = (await client.get("/v1/subscribers", headers=admin)).json()["items"]
        assert listed["newsletters"] == ["daily"]
        assert listed["consent"]["requested_from"] == "127.0.0.1"
        assert listed["consent"]["requested_at"] == confirmed["requested_at"]

    async def test_each_link_confirms_what_its_own_mail_showed(
        self,
        client: httpx.AsyncClient,
        attacker: httpx.AsyncClient,
        smtp: SmtpServer,
        clock: Any,
    ) -> None:
        await subscribe(client, "owner@example.com")
        clock.now += timedelta(minutes=16)
        await subscribe(attacker, "owner@example.com", newsletters=["other"])
        first, second = smtp.messages
        assert "to Other" in second["Subject"]

        assert (await confirm(client, link_token(first)))["newsletters"] == ["daily"]
        spent = await client.post(
            "/v1/subscriptions/confirm", json={"token": link_token(second)}
        )
        assert spent.status_code == 409  # confirming one spends every other link

    async def test_a_pending_subscription_is_not_rewritten_by_a_later_request(
        self,
        client: httpx.AsyncClient,
        attacker: httpx.AsyncClient,
        smtp: SmtpServer,
        admin: dict[str, str],
    ) -> None:
        await subscribe(client, "pending@example.com", tickers=["NVDA"])

        await subscribe(attacker, "pending@example.com", newsletters=["other"])

        [listed] = (await client.get("/v1/subscribers", headers=admin)).json()["items"]
        assert (listed["status"], listed["newsletters"], listed["tickers"]) == (
            "pending",
            ["daily"],
            ["NVDA"],
        )
        assert listed["consent"]["requested_from"] == "127.0.0.1"
