from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Subscriber, SubscriberEvent
from app.subscriptions import tokens
from tests.factories import create_author, create_ticker
from tests.mail_fixtures import SmtpServer, link_token, plain_text
from tests.subscriber_factories import confirm_by_mail, create_newsletter, subscribe

pytestmark = pytest.mark.asyncio
ANY = object()


@pytest_asyncio.fixture(autouse=True)
async def daily(session: AsyncSession) -> Any:
    return await create_newsletter(session, slug="daily", name="Daily")


class TestSubscribe:
    async def test_mails_a_confirmation_link_whose_token_activates(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        await create_ticker(session, "NVDA")
        response = await subscribe(client, "Reader@Example.COM", tickers=["nvda"])

        assert response.status_code == 202
        [mail] = smtp.messages
        assert mail["To"] == "Reader@example.com"
        assert "Confirm your subscription to Daily" in mail["Subject"]
        assert "https://news.example/newsletters/confirm?token=" in plain_text(mail)
        confirmed = await client.post("/v1/subscriptions/confirm", json={"token": link_token(mail)})
        assert confirmed.status_code == 200
        body = confirmed.json()
        assert body | {"requested_at": ANY, "confirmed_at": ANY, "manage_token": ANY} == {
            "email": "Reader@example.com",
            "status": "active",
            "newsletters": ["daily"],
            "tickers": ["NVDA"],
            "authors": [],
            "requested_at": ANY,
            "confirmed_at": ANY,
            "unsubscribed_at": None,
            "manage_token": ANY,
        }
        me = await client.get(
            "/v1/subscriptions/me", headers={"Authorization": f"Bearer {body['manage_token']}"}
        )
        assert me.status_code == 200 and me.json()["status"] == "active"

    async def test_answers_byte_identically_for_new_pending_active_and_unsubscribed(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        confirmed = await confirm_by_mail(client, smtp, "active@example.com")
        await confirm_by_mail(client, smtp, "gone@example.com")
        await client.post(
            "/v1/subscriptions/unsubscribe",
            json={"token": confirmed["manage_token"]},
        )
        await subscribe(client, "pending@example.com")

        answers = [
            await subscribe(client, address)
            for address in (
                "new@example.com",
                "pending@example.com",
                "active@example.com",
                "gone@example.com",
            )
        ]
        assert {answer.status_code for answer in answers} == {202}
        assert len({answer.content for answer in answers}) == 1
        assert len({answer.headers["content-type"] for answer in answers}) == 1
        assert len({answer.headers["content-length"] for answer in answers}) == 1

    @pytest.mark.parametrize(
        "address",
        [
            "victim@example.com\r\nBcc: everyone@example.com",
            "victim@example.com\nBcc: x@example.com",
            "a@example.com, b@example.com",
            "a@example.com;b@example.com",
            "Name <a@example.com>",
            "not-an-address",
            "a@b",
            "",
        ],
    )
    async def test_refuses_header_injection_and_several_addresses(
        self, client: httpx.AsyncClient, smtp: SmtpServer, address: str
    ) -> None:
        response = await subscribe(client, address)

        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["body", "email"]
        assert smtp.messages == []

    async def test_names_unknown_newsletters_tickers_and_authors(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/v1/subscriptions",
            json={
                "email": "a@example.com",
                "newsletters": ["daily", "nope"],
                "tickers": ["ZZZZ"],
                "authors": ["nobody"],
            },
        )

        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"loc": ["body", "newsletters", 1], "msg": "unknown newsletter 'nope'"}
        ]

    async def test_sends_one_confirmation_per_window_however_often_asked(
        self, client: httpx.AsyncClient, smtp: SmtpServer, clock: Any
    ) -> None:
        for address in ("Same@example.com", "same@EXAMPLE.com", "same@example.com"):
            assert (await subscribe(client, address)).status_code == 202
        assert len(smtp.messages) == 1

        clock.now += timedelta(minutes=16)
        await subscribe(client, "same@example.com")
        assert len(smtp.messages) == 2

    async def test_does_not_let_a_stranger_change_an_active_subscription(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        await create_ticker(session, "AAPL")
        confirmed = await confirm_by_mail(client, smtp, "owner@example.com")

        await subscribe(client, "owner@example.com", tickers=["AAPL"])

        me = await client.get("/v1/subscriptions/me", params={"token": confirmed["manage_token"]})
        assert me.json()["tickers"] == []
        assert len(smtp.messages) == 1

    async def test_wants_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/subscriptions", data={"email": "a@example.com"})
        assert response.status_code == 415


class TestConfirm:
    async def test_refuses_a_forged_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/subscriptions/confirm", json={"token": "x" * 43})

        assert response.status_code == 400
        assert response.json()["type"] == "/problems/invalid-token"

    async def test_refuses_a_reused_token(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        await subscribe(client, "twice@example.com")
        token = link_token(smtp.messages[0])
        assert (
            await client.post("/v1/subscriptions/confirm", json={"token": token})
        ).status_code == 200

        again = await client.post("/v1/subscriptions/confirm", json={"token": token})
        assert again.status_code == 409
        assert again.json()["type"] == "/problems/used-token"

    async def test_refuses_an_expired_token(
        self, client: httpx.AsyncClient, smtp: SmtpServer, clock: Any
    ) -> None:
        await subscribe(client, "late@example.com")
        clock.now += timedelta(hours=48, seconds=1)

        response = await client.post(
            "/v1/subscriptions/confirm", json={"token": link_token(smtp.messages[0])}
        )

        assert response.status_code == 410
        assert response.json()["type"] == "/problems/expired-token"

    async def test_keeps_a_consent_record(
        self,
        client: httpx.AsyncClient,
        smtp: SmtpServer,
        session: AsyncSession,
        admin: dict[str, str],
    ) -> None:
        await subscribe(client, "dpo@example.com")
        await client.post(
            "/v1/subscriptions/confirm",
            json={"token": link_token(smtp.messages[0])},
        )

        listed = await client.get("/v1/subscribers", headers=admin)
        [subscriber] = listed.json()["items"]
        assert subscriber["consent"] | {"requested_at": ANY, "confirmed_at": ANY} == {
            "requested_at": ANY,
            "requested_from": "127.0.0.1",
            "confirmed_at": ANY,
            "confirmed_from": "127.0.0.1",
            "consent_version": "2026-11-01",
        }
        kinds = (
            await session.exec(select(SubscriberEvent.kind).order_by(col(SubscriberEvent.id)))
        ).all()
        assert kinds == ["requested", "confirmed"]


class TestManage:
    async def test_reads_with_bearer_or_query_token(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        token = (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"]

        by_header = await client.get(
            "/v1/subscriptions/me", headers={"Authorization": f"Bearer {token}"}
        )
        by_query = await client.get("/v1/subscriptions/me", params={"token": token})

        assert by_header.status_code == by_query.status_code == 200
        assert by_header.json() == by_query.json()

    @pytest.mark.parametrize("field", ["newsletters", "tickers", "authors"])
    async def test_refuses_null_preferences(
        self, client: httpx.AsyncClient, smtp: SmtpServer, field: str
    ) -> None:
        """Issue 11: the spec does not mark them nullable; an empty list clears tickers and authors."""
        token = (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"]

        response = await client.patch(
            "/v1/subscriptions/me", headers={"Authorization": f"Bearer {token}"}, json={field: None}
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", field]

    @pytest.mark.parametrize(
        "token",
        ["1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage", "999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    )
    async def test_refuses_forged_tokens(self, client: httpx.AsyncClient, token: str) -> None:
        response = await client.get("/v1/subscriptions/me", params={"token": token})

        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/subscriptions/me")).status_code == 401

    async def test_changes_followed_tickers_and_authors(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        await create_ticker(session, "BTC", asset_class="crypto")
        author = await create_author(session, slug="maya-chen")
        token = (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"]

        response = await client.patch(
            "/v1/subscriptions/me",
            params={"token": token},
            json={"tickers": ["btc"], "authors": [author.slug]},
        )

        assert response.status_code == 200
        assert response.json()["tickers"] == ["BTC"]
        assert response.json()["authors"] == ["maya-chen"]
        assert response.json()["newsletters"] == ["daily"]

    async def test_names_unknown_symbols(self, client: httpx.AsyncClient, smtp: SmtpServer) -> None:
        token = (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"]

        response = await client.patch(
            "/v1/subscriptions/me", params={"token": token}, json={"tickers": ["NOPE"]}
        )

        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"loc": ["body", "tickers", 0], "msg": "unknown ticker symbol 'NOPE'"}
        ]

    async def test_an_unsubscribe_token_cannot_manage(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        subscriber_id = int(
            (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"].split(".")[0]
        )
        subscriber = await session.get_one(Subscriber, subscriber_id)
        leave = tokens.sign(
            "test-secret", tokens.UNSUBSCRIBE, subscriber_id, subscriber.token_nonce
        )

        assert (
            await client.get("/v1/subscriptions/me", params={"token": leave})
        ).status_code == 401


class TestPrivacy:
    async def test_personal_answers_are_not_cached(self, client: httpx.AsyncClient, smtp: SmtpServer) -> None:
        token = (await confirm_by_mail(client, smtp, "me@example.com"))["manage_token"]

        me = await client.get("/v1/subscriptions/me", params={"token": token})

        assert me.headers["cache-control"] == "no-store"


LARGE_ID_TOKENS = [
    "99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "2147483648.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "999999999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
]


class TestLargeIdTokens:
    """An id past 32 bits is an invalid token (401), never a database error (500)."""

    @pytest.mark.parametrize("token", LARGE_ID_TOKENS)
    async def test_are_not_a_subscriber_id(self, token: str) -> None:
        assert tokens.subscriber_id_of(token) is None

    @pytest.mark.parametrize("token", LARGE_ID_TOKENS)
    async def test_are_refused_everywhere_with_a_401(
        self, client: httpx.AsyncClient, token: str
    ) -> None:
        params = {"token": token}
        answers = [
            await client.get("/v1/subscriptions/me", params=params),
            await client.patch("/v1/subscriptions/me", params=params, json={"tickers": []}),
            await client.get("/v1/subscriptions/unsubscribe", params=params),
            await client.post(
                "/v1/subscriptions/unsubscribe",
                params=params,
                data={"List-Unsubscribe": "One-Click"},
            ),
        ]

        assert [answer.status_code for answer in answers] == [401] * 4

    async def test_the_largest_32_bit_id_is_still_read(self) -> None:
        assert tokens.subscriber_id_of(f"{2**31 - 1}." + "A" * 32) == 2**31 - 1


class TestNonAsciiAddresses:
    @pytest.mark.parametrize("address", ["josé@example.com", "用户@example.com"])
    async def test_a_mailbox_name_needing_smtputf8_is_refused(
        self, client: httpx.AsyncClient, smtp: SmtpServer, address: str
    ) -> None:
        response = await subscribe(client, address)

        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "email"]
        assert smtp.messages == []

    async def test_an_internationalized_domain_gets_its_mail_at_the_a_label(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        response = await subscribe(client, "reader@bücher.example")

        assert response.status_code == 202
        assert smtp.handler.envelopes == [["reader@xn--bcher-kva.example"]]
        assert smtp.messages[0]["To"] == "reader@xn--bcher-kva.example"


class TestNoStoreEverywhere:
    async def test_every_personal_answer_says_no_store(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        await subscribe(client, "private@example.com")
        confirmed = await client.post(
            "/v1/subscriptions/confirm", json={"token": link_token(smtp.messages[-1])}
        )
        token = confirmed.json()["manage_token"]
        params = {"token": token}

        answers = [
            await subscribe(client, "private@example.com"),
            confirmed,
            await client.get("/v1/subscriptions/me", params=params),
            await client.patch("/v1/subscriptions/me", params=params, json={"tickers": []}),
            await client.get("/v1/subscriptions/unsubscribe", params=params),
            await client.post(
                "/v1/subscriptions/unsubscribe", params=params, data={"List-Unsubscribe": "One-Click"}
            ),
        ]

        assert [answer.headers.get("cache-control") for answer in answers] == ["no-store"] * 6


class TestPreferencesNulls:
    async def test_names_every_field_sent_as_null(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        token = (await confirm_by_mail(client, smtp, "nulls@example.com"))["manage_token"]

        response = await client.patch(
            "/v1/subscriptions/me",
            params={"token": token},
            json={"newsletters": None, "tickers": None, "authors": None},
        )

        assert response.status_code == 422
        assert [error["loc"] for error in response.json()["errors"]] == [
            ["body", "newsletters"],
            ["body", "tickers"],
            ["body", "authors"],
        ]
