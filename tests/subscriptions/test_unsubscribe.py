from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Subscriber, SubscriberEvent
from app.subscriptions import tokens
from tests.helpers import assert_problem, problem
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

    @pytest.mark.parametrize("media_type", ["form", "multipart"])
    async def test_more_fields_than_the_spec_allows_are_refused(
        self, client: httpx.AsyncClient, app: Any, smtp: SmtpServer, session: AsyncSession, media_type: str
    ) -> None:
        # Found by schemathesis (issue 11): the form's schema said nothing of the bound, and
        # multipart bodies were not held to it.
        bound = app.openapi()["components"]["schemas"]["OneClickUnsubscribeForm"]["maxProperties"]
        fields = ONE_CLICK | {f"f{n}": "x" for n in range(bound)}
        token = await unsubscribe_token(client, smtp, session)

        sent = (
            {"data": fields}
            if media_type == "form"
            else {"files": {name: (None, value) for name, value in fields.items()}}
        )
        response = await client.post("/v1/subscriptions/unsubscribe", params={"token": token}, **sent)

        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"loc": ["body"], "msg": f"a one-click form has at most {bound} fields"}
        ]

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


MULTIPART = "multipart/form-data; boundary=b"
EMPTY_PART = b"--b\r\n\r\n"
NESTED_PART = b"--b\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n"


def nested_parts(depth: int) -> bytes:
    """Each part a multipart of its own, one level deeper (a boundary per level)."""
    return b"".join(
        b"--%d\r\nContent-Type: multipart/mixed; boundary=%d\r\n\r\n" % (level, level + 1)
        for level in range(depth)
    )
ONE_KIB = problem(413, "body-too-large", "The request body exceeds 1024 bytes.")


async def chunks(body: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (chunked), as a client may do to dodge a length check."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


class TestHostileBodies:
    """Issue 10, item 1: the route reads at most 1 KiB, and parses it in time linear in
    that KiB, before it looks at any token. A megabyte of empty multipart parts took 6 s
    of the event loop (every request of the worker waited), and nested parts raised
    RecursionError (a 500)."""

    async def test_a_megabyte_of_empty_parts_is_refused_unparsed(
        self, client: httpx.AsyncClient
    ) -> None:
        body = EMPTY_PART * (1_000_000 // len(EMPTY_PART))

        response = await client.post(
            "/v1/subscriptions/unsubscribe", content=body, headers={"Content-Type": MULTIPART}
        )

        assert_problem(response, ONE_KIB)

    async def test_a_chunked_body_is_refused_past_one_kib(self, client: httpx.AsyncClient) -> None:
        body = EMPTY_PART * (1_000_000 // len(EMPTY_PART))

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            content=chunks(body),
            headers={"Content-Type": MULTIPART},
        )

        assert "content-length" not in response.request.headers
        assert_problem(response, ONE_KIB)

    async def test_deeply_nested_parts_are_a_4xx_not_a_500(self, client: httpx.AsyncClient) -> None:
        body = nested_parts(3_500)  # 190 KB

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=0"},
        )

        assert_problem(response, ONE_KIB)

    @pytest.mark.parametrize(
        ("content_type", "body"),
        [
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click&" + b"x=" * 600),
            ("application/json", b'{"token": "' + b"a" * 1100 + b'"}'),
        ],
        ids=["form", "json"],
    )
    async def test_any_body_over_one_kib_is_a_413(
        self, client: httpx.AsyncClient, content_type: str, body: bytes
    ) -> None:
        response = await client.post(
            "/v1/subscriptions/unsubscribe", content=body, headers={"Content-Type": content_type}
        )

        assert_problem(response, ONE_KIB)

    @pytest.mark.parametrize(
        ("content_type", "body"),
        [
            (MULTIPART, NESTED_PART * 20),
            ("multipart/form-data; boundary=0", nested_parts(18)),
            (MULTIPART, EMPTY_PART * 140),
            (MULTIPART, b""),
            (MULTIPART, b"--b\r\nno blank line after the headers"),
            (MULTIPART, b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click'),
            (MULTIPART, b"\xff\xfe\x00" * 300),
            ("multipart/form-data", b"--\r\n\r\n--"),
            ("multipart/form-data; boundary=" + "b" * 71, b"--" + b"b" * 71 + b"--"),
            ("multipart/form-data; boundary=\"", b"--b--"),
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click&" * 30),
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=\xff%ff%"),
            ("application/json", b"[" * 1000),
            ("application/json", b'{"token": "\xff"}'),
        ],
        ids=[
            "nested-same-boundary", "nested", "empty-parts", "empty", "no-header-end", "not-closed", "binary",
            "no-boundary", "boundary-too-long", "broken-parameter", "many-fields", "bad-utf8",
            "nested-json", "bad-utf8-json",
        ],
    )
    async def test_malformed_small_bodies_are_4xx_problems(
        self, client: httpx.AsyncClient, content_type: str, body: bytes
    ) -> None:
        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": "1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
            content=body,
            headers={"Content-Type": content_type},
        )

        assert 400 <= response.status_code < 500, response.text
        assert response.status_code != 401  # refused for the body, before the token is looked at
        assert response.headers["content-type"] == "application/problem+json"

    async def test_the_rfc_8058_multipart_example_unsubscribes(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        """RFC 8058 §8.3, with errata 5117 and 8927 applied: a receiver SHOULD send
        multipart/form-data (§3.2), so it stays accepted, within the same 1 KiB."""
        token = await unsubscribe_token(client, smtp, session)
        body = (
            b"---FormBoundaryjWmhtjORrn\r\n"
            b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n'
            b"\r\n"
            b"One-Click\r\n"
            b"---FormBoundaryjWmhtjORrn--\r\n"
        )

        response = await client.post(
            "/v1/subscriptions/unsubscribe",
            params={"token": token},
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=-FormBoundaryjWmhtjORrn"},
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "unsubscribed"
