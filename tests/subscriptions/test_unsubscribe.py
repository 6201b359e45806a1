from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Subscriber, SubscriberEvent
from app.subscriptions import tokens
from tests.mail_fixtures import SmtpServer, link_token
from tests.subscriber_factories import confirm_by_mail, create_newsletter, subscribe

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


async def leave(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/subscriptions/unsubscribe", json={"token": token})


async def confirm_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/subscriptions/confirm", json={"token": token})


class TestComingBack:
    async def test_an_older_confirmation_cannot_reactivate_after_unsubscribing(
        self, client: httpx.AsyncClient, smtp: SmtpServer, clock: Any
    ) -> None:
        await subscribe(client, "old@example.com")
        clock.now += timedelta(minutes=16)  # past the resend window: a second mail
        await subscribe(client, "old@example.com")
        older, newer = (link_token(mail) for mail in smtp.handler.to("old@example.com"))
        manage = (await confirm_with(client, newer)).json()["manage_token"]
        assert (await leave(client, manage)).json()["status"] == "unsubscribed"

        again = await confirm_with(client, older)

        assert again.status_code == 409
        assert again.json()["type"] == "/problems/used-token"
        me = await client.get("/v1/subscriptions/unsubscribe", params={"token": manage})
        assert me.json()["status"] == "unsubscribed"

    async def test_unsubscribing_spends_a_pending_confirmation(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession, clock: Any
    ) -> None:
        leave_link = await unsubscribe_token(client, smtp, session)
        assert (await leave(client, leave_link)).status_code == 200
        clock.now += timedelta(minutes=16)
        await subscribe(client, "leaver@example.com")  # pending again, new mail
        pending = link_token(smtp.handler.to("leaver@example.com")[-1])
        assert (await leave(client, leave_link)).status_code == 200  # an old link, still valid

        again = await confirm_with(client, pending)

        assert again.status_code == 409
        assert again.json()["type"] == "/problems/used-token"

    async def test_reconfirming_revokes_the_old_manage_and_unsubscribe_links(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession, clock: Any
    ) -> None:
        old_manage = (await confirm_by_mail(client, smtp, "back@example.com"))["manage_token"]
        subscriber = await session.get_one(Subscriber, int(old_manage.split(".")[0]))
        old_leave = tokens.sign(
            "test-secret", tokens.UNSUBSCRIBE, subscriber.id, subscriber.token_nonce  # type: ignore[arg-type]
        )
        assert (await leave(client, old_manage)).status_code == 200
        clock.now += timedelta(minutes=16)

        back = await confirm_by_mail(client, smtp, "back@example.com")

        assert back["status"] == "active" and back["manage_token"] != old_manage
        for old in (old_manage, old_leave):
            check = await client.get("/v1/subscriptions/unsubscribe", params={"token": old})
            assert check.status_code == 401
        assert (await client.get("/v1/subscriptions/me", params={"token": old_manage})).status_code == 401
        me = await client.get("/v1/subscriptions/me", params={"token": back["manage_token"]})
        assert me.status_code == 200 and me.json()["status"] == "active"


class TestOneClickBody:
    @pytest.mark.parametrize(
        "body",
        [
            "List-Unsubscribe=Not-One-Click",
            "List-Unsubscribe=One-Click-Not",
            "List-Unsubscribe=x&List-Unsubscribe=One-Click",
            "Other=One-Click",
            "",
        ],
    )
    async def test_a_form_needs_exactly_list_unsubscribe_one_click(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession, body: str
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": token},
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "List-Unsubscribe"]

    @pytest.mark.parametrize(
        "fields",
        [
            {"List-Unsubscribe": "Not-One-Click"},
            {"List-Unsubscribe": "x", "Other": "One-Click"},
            {"Not-List-Unsubscribe": "One-Click"},
        ],
    )
    async def test_multipart_needs_a_list_unsubscribe_part_of_exactly_one_click(
        self,
        client: httpx.AsyncClient,
        smtp: SmtpServer,
        session: AsyncSession,
        fields: dict[str, str],
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": token},
            files={name: (None, value) for name, value in fields.items()},
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "List-Unsubscribe"]

    async def test_multipart_one_click_unsubscribes(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        token = await unsubscribe_token(client, smtp, session)

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": token},
            files={"List-Unsubscribe": (None, "One-Click")},
        )

        assert response.status_code == 200
        assert response.json()["status"] == "unsubscribed"
