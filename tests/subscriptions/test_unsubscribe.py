from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Subscriber, SubscriberEvent
from app.subscriptions import tokens
from tests.mail_fixtures import SmtpServer
from tests.subscriber_factories import confirm_by_mail, create_newsletter

pytestmark = pytest.mark.asyncio
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest_asyncio.fixture(autouse=True)
async def daily(session: AsyncSession) -> Any:
    return await create_newsletter(session, slug="daily", name="Daily")


async def unsubscribe_token(
    client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
) -> str:
    manage = (await confirm_by_mail(client, smtp, "leaver@example.com"))["manage_token"]
    subscriber = await session.get_one(Subscriber, int(manage.split(".")[0]))
    return tokens.sign("test-secret", tokens.UNSUBSCRIBE, subscriber.id, subscriber.token_nonce)  # type: ignore[arg-type]


class TestUnsubscribe:
    async def test_one_click_form_with_the_token_in_the_url(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        response = await client.post(
            "/v1/subscriptions/unsubscribe", params={"token": token}, data=ONE_CLICK
        )

        assert response.status_code == 200
        assert response.json()["status"] == "unsubscribed"
        assert response.json()["unsubscribed_at"] is not None

    async def test_is_idempotent_and_keeps_the_history(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        first = await client.post(
            "/v1/subscriptions/unsubscribe", params={"token": token}, data=ONE_CLICK
        )
        second = await client.post(
            "/v1/subscriptions/unsubscribe", params={"token": token}, data=ONE_CLICK
        )

        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        kinds = (
            await session.exec(select(SubscriberEvent.kind).order_by(col(SubscriberEvent.id)))
        ).all()
        assert kinds == ["requested", "confirmed", "unsubscribed"]
        assert (await session.exec(select(Subscriber.email))).all() == ["leaver@example.com"]

    async def test_accepts_json_with_the_manage_token(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        manage = (await confirm_by_mail(client, smtp, "json@example.com"))["manage_token"]

        response = await client.post("/v1/subscriptions/unsubscribe", json={"token": manage})

        assert response.status_code == 200
        assert response.json()["status"] == "unsubscribed"

    async def test_a_get_never_unsubscribes(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        looked = await client.get("/v1/subscriptions/unsubscribe", params={"token": token})

        assert looked.status_code == 200
        assert looked.json()["status"] == "active"
        me = await client.get("/v1/subscriptions/me", params={"token": token})
        assert me.status_code == 401  # an unsubscribe token is no manage token
        subscriber = (await session.exec(select(Subscriber))).one()
        await session.refresh(subscriber)
        assert subscriber.status == "active"

    @pytest.mark.parametrize(
        ("body", "status"),
        [({"List-Unsubscribe": "Maybe"}, 422), ({}, 422)],
    )
    async def test_refuses_a_form_without_one_click(
        self,
        client: httpx.AsyncClient,
        smtp: SmtpServer,
        session: AsyncSession,
        body: dict[str, str],
        status: int,
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": token},
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        assert response.status_code == status

    async def test_refuses_a_forged_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": "1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
            data=ONE_CLICK,
        )

        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_refuses_other_media_types(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            content=b"hello",
            headers={"Content-Type": "text/plain"},
        )

        assert response.status_code == 415

    async def test_a_later_subscription_needs_a_new_confirmation(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        manage = (await confirm_by_mail(client, smtp, "back@example.com"))["manage_token"]
        await client.post("/v1/subscriptions/unsubscribe", json={"token": manage})

        again = await confirm_by_mail(client, smtp, "back@example.com")

        assert again["status"] == "active"
        assert again["unsubscribed_at"] is None
        assert len(smtp.messages) == 2
