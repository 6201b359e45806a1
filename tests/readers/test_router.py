import math
import random
import statistics
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import OutboundEmail, Reader, ReaderSession, ReaderSignIn, Subscriber
from tests.mail_fixtures import SmtpServer, deliver, link_token, plain_text
from tests.reader_fixtures import auth, client_with, named_reader, sign_in
from tests.subscriber_factories import confirm_by_mail, create_newsletter

pytestmark = pytest.mark.asyncio
ANY = object()


class TestSignIn:
    async def test_mails_a_single_use_link_that_opens_a_session(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        asked = await client.post("/v1/readers/sign-in", json={"email": "Ada@Example.com"})

        assert asked.status_code == 202
        assert asked.json() == {
            "status": "accepted", "detail": "If this address can receive mail, a sign-in link is on its way."
        }
        assert asked.headers["cache-control"] == "no-store"
        [mail] = smtp.messages
        assert mail["To"] == "Ada@example.com" and mail["Subject"] == "Your sign-in link"
        assert "https://news.example/sign-in?token=" in plain_text(mail)
        assert "expires in 15 minutes" in plain_text(mail)
        token = link_token(mail)
        confirmed = await client.post("/v1/readers/sign-in/confirm", json={"token": token})
        assert confirmed.status_code == 200
        body = confirmed.json()
        assert set(body) == {"reader", "session_token"}
        assert set(body["reader"]) == {"id", "display_name"} and body["reader"]["display_name"] is None
        assert body["session_token"].startswith("trs_")
        me = await client.get("/v1/readers/me", headers=auth(body))
        assert me.status_code == 200
        assert me.json() | {"created_at": ANY} == {
            "id": body["reader"]["id"], "display_name": None, "email": "Ada@example.com", "status": "active",
            "trusted": False, "approved_comments": 0, "newsletter_subscription": None, "created_at": ANY,
        }
        again = await client.post("/v1/readers/sign-in/confirm", json={"token": token})
        assert again.status_code == 409 and again.json()["type"].endswith("used-token")

    async def test_stores_neither_the_link_nor_the_session_token(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        signed_in = await sign_in(client, smtp, "ada@example.com")
        token = link_token(smtp.messages[0])

        [link] = (await session.exec(select(ReaderSignIn))).all()
        [stored] = (await session.exec(select(ReaderSession))).all()
        assert token not in (link.token_hash, link.seed)
        assert stored.token_hash != signed_in["session_token"] and len(stored.token_hash) == 64
        [message] = (await session.exec(select(OutboundEmail))).all()
        assert message.kind == "sign_in" and message.status == "sent" and message.subscriber_id is None

    async def test_a_link_expires_after_15_minutes(
        self, client: httpx.AsyncClient, smtp: SmtpServer, clock: Any
    ) -> None:
        await client.post("/v1/readers/sign-in", json={"email": "ada@example.com"})
        clock.now += timedelta(minutes=15, seconds=1)

        response = await client.post("/v1/readers/sign-in/confirm", json={"token": link_token(smtp.messages[0])})

        assert response.status_code == 410 and response.json()["type"].endswith("expired-token")

    async def test_a_new_request_forgets_the_addresses_spent_links(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession, clock: Any
    ) -> None:
        await sign_in(client, smtp, "ada@example.com")  # used
        await client.post("/v1/readers/sign-in", json={"email": "ada@example.com"})  # expires
        await client.post("/v1/readers/sign-in", json={"email": "bob@example.com"})
        clock.now += timedelta(minutes=16)

        await client.post("/v1/readers/sign-in", json={"email": "ADA@example.com"})

        left = (await session.exec(select(ReaderSignIn.email_key))).all()
        assert sorted(left) == ["ada@example.com", "bob@example.com"]

    async def test_refuses_a_made_up_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/readers/sign-in/confirm", json={"token": "x" * 43})
        assert response.status_code == 400

    async def test_a_known_address_gets_the_same_answer_and_mail_as_a_new_one(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        await sign_in(client, smtp, "known@example.com")
        known = await client.post("/v1/readers/sign-in", json={"email": "known@example.com"})
        unknown = await client.post("/v1/readers/sign-in", json={"email": "unknown@example.com"})

        assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
        [known_mail] = smtp.handler.to("known@example.com")[1:]
        [unknown_mail] = smtp.handler.to("unknown@example.com")
        assert plain_text(known_mail).split("token=")[0] == plain_text(unknown_mail).split("token=")[0]
        assert known_mail["Subject"] == unknown_mail["Subject"]

    async def test_the_same_address_signs_in_as_the_same_reader(
        self, client: httpx.AsyncClient, smtp: SmtpServer
    ) -> None:
        first = await sign_in(client, smtp, "ada@example.com")
        second = await sign_in(client, smtp, "ADA@example.com")
        assert first["reader"]["id"] == second["reader"]["id"]
        assert first["session_token"] != second["session_token"]

    async def test_is_rate_limited_per_address(self, app: Any, settings: Any, smtp: SmtpServer) -> None:
        async with client_with(app, settings, smtp, rate_limit_sign_in_per_email="2/hour") as client:
            codes = [
                (await client.post("/v1/readers/sign-in", json={"email": "ada@example.com"})).status_code
                for _ in range(3)
            ]
            other = await client.post("/v1/readers/sign-in", json={"email": "bob@example.com"})
        assert codes == [202, 202, 429] and other.status_code == 202


def mann_whitney_z(a: list[float], b: list[float]) -> float:
    """The normal approximation of the Mann-Whitney U statistic (ties get mid-ranks)."""
    ranked = sorted([(value, 0) for value in a] + [(value, 1) for value in b])
    ranks: list[float] = [0.0] * len(ranked)
    index = 0
    while index < len(ranked):
        end = index
        while end + 1 < len(ranked) and ranked[end + 1][0] == ranked[index][0]:
            end += 1
        for position in range(index, end + 1):
            ranks[position] = (index + end) / 2 + 1
        index = end + 1
    rank_sum = sum(rank for rank, (_, group) in zip(ranks, ranked, strict=True) if group == 0)
    n, m = len(a), len(b)
    u = rank_sum - n * (n + 1) / 2
    return (u - n * m / 2) / math.sqrt(n * m * (n + m + 1) / 12)


class TestNoEnumeration:
    TRIES = 200

    async def test_known_and_unknown_addresses_take_the_same_time(
        self, app: Any, settings: Any, smtp: SmtpServer, client: httpx.AsyncClient
    ) -> None:
        """200 tries each, interleaved in random order. Mail goes out after the response in
        a real server (a background task), so it is left out of the timing here."""
        known = [f"known{n}@example.com" for n in range(5)]
        for email in known:
            await sign_in(client, smtp, email)
        tries = [("known", known[n % len(known)]) for n in range(self.TRIES)]
        tries += [("unknown", f"stranger{n}@example.com") for n in range(self.TRIES)]
        random.Random(14).shuffle(tries)
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        async with client_with(app, settings, smtp, send_mail_on_request=False) as timed:
            for _ in range(10):  # warm-up
                await timed.post("/v1/readers/sign-in", json={"email": "warm@example.com"})
            for kind, email in tries:
                started = time.perf_counter()
                response = await timed.post("/v1/readers/sign-in", json={"email": email})
                timings[kind].append(time.perf_counter() - started)
                assert response.status_code == 202

        z = mann_whitney_z(timings["known"], timings["unknown"])
        known_median, unknown_median = statistics.median(timings["known"]), statistics.median(timings["unknown"])
        # p ≈ 0.0001 two-sided: a real difference of a query or more shows far beyond it.
        assert abs(z) < 3.9, (z, known_median, unknown_median)
        assert abs(known_median - unknown_median) < 0.15 * min(known_median, unknown_median) + 0.0005


class TestSessions:
    async def test_sign_out_revokes_only_that_session(self, client: httpx.AsyncClient, smtp: SmtpServer) -> None:
        first = auth(await sign_in(client, smtp, "ada@example.com"))
        second = auth(await sign_in(client, smtp, "ada@example.com"))

        assert (await client.post("/v1/readers/sign-out", headers=first)).status_code == 204

        assert (await client.get("/v1/readers/me", headers=first)).status_code == 401
        assert (await client.get("/v1/readers/me", headers=second)).status_code == 200

    async def test_refuses_missing_and_wrong_tokens(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/readers/me")).status_code == 401
        response = await client.get("/v1/readers/me", headers={"Authorization": "Bearer trs_nope"})
        assert response.status_code == 401 and "www-authenticate" in response.headers

    async def test_a_session_expires(self, client: httpx.AsyncClient, smtp: SmtpServer, clock: Any) -> None:
        headers = auth(await sign_in(client, smtp))
        clock.now += timedelta(days=31)
        assert (await client.get("/v1/readers/me", headers=headers)).status_code == 401


class TestProfile:
    async def test_sets_a_display_name(self, client: httpx.AsyncClient, smtp: SmtpServer) -> None:
        headers = auth(await sign_in(client, smtp))
        response = await client.patch("/v1/readers/me", json={"display_name": "  Ada L. "}, headers=headers)
        assert response.status_code == 200 and response.json()["display_name"] == "Ada L."

    @pytest.mark.parametrize("name", ["", "a" * 61, "Ada\x00", "Ada\nL"])
    async def test_refuses_a_bad_display_name(self, client: httpx.AsyncClient, smtp: SmtpServer, name: str) -> None:
        headers = auth(await sign_in(client, smtp))
        response = await client.patch("/v1/readers/me", json={"display_name": name}, headers=headers)
        assert response.status_code == 422

    async def test_links_the_same_persons_subscription_and_never_subscribes(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        await create_newsletter(session, slug="daily", name="Daily")
        await confirm_by_mail(client, smtp, "subscriber@example.com")
        subscribed = auth(await sign_in(client, smtp, "Subscriber@example.com"))
        reader_only = auth(await sign_in(client, smtp, "reader@example.com"))

        assert (await client.get("/v1/readers/me", headers=subscribed)).json()["newsletter_subscription"] == "active"
        assert (await client.get("/v1/readers/me", headers=reader_only)).json()["newsletter_subscription"] is None
        emails = (await session.exec(select(Subscriber.email_key))).all()
        assert emails == ["subscriber@example.com"]


class TestErasure:
    async def test_forgets_the_address_and_lets_it_sign_in_as_a_new_reader(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession
    ) -> None:
        signed_in = await sign_in(client, smtp, "ada@example.com")
        headers = await named_reader(client, smtp, "Ada", "ada@example.com")

        assert (await client.delete("/v1/readers/me", headers=headers)).status_code == 204

        assert (await client.get("/v1/readers/me", headers=auth(signed_in))).status_code == 401
        erased = await session.get_one(Reader, signed_in["reader"]["id"], populate_existing=True)
        assert (erased.email, erased.email_key, erased.display_name, erased.status) == (None, None, None, "erased")
        assert not (await session.exec(select(ReaderSignIn).where(col(ReaderSignIn.email_key) == "ada@example.com"))).all()
        again = await sign_in(client, smtp, "ada@example.com")
        assert again["reader"]["id"] != signed_in["reader"]["id"]


class TestOutbox:
    async def test_a_sign_in_mail_waits_in_the_outbox_for_the_deliverer(
        self, app: Any, settings: Any, smtp: SmtpServer, clock: Any
    ) -> None:
        async with client_with(app, settings, smtp, send_mail_on_request=False) as client:
            assert (await client.post("/v1/readers/sign-in", json={"email": "ada@example.com"})).status_code == 202
            assert smtp.messages == []

            report = await deliver(app, clock)

            assert report.sent == 1
            [mail] = smtp.messages
            confirmed = await client.post("/v1/readers/sign-in/confirm", json={"token": link_token(mail)})
            assert confirmed.status_code == 200

    async def test_a_link_that_expired_in_the_outbox_is_not_sent(
        self, app: Any, settings: Any, smtp: SmtpServer, clock: Any
    ) -> None:
        async with client_with(app, settings, smtp, send_mail_on_request=False) as client:
            await client.post("/v1/readers/sign-in", json={"email": "ada@example.com"})
        clock.now += timedelta(minutes=16)

        report = await deliver(app, clock)

        assert (report.sent, report.skipped, smtp.messages) == (0, 1, [])


class TestPathsBesideAReadersId:
    """Found by `make fuzz`: `/v1/readers/sign-in` and `sign-out` are not a reader's id, so
    a method they do not have is a 405, not the ban or link route's 422 or 415."""

    @pytest.mark.parametrize("path", ["/v1/readers/sign-in", "/v1/readers/sign-out"])
    async def test_an_undeclared_method_is_a_405(self, client: httpx.AsyncClient, admin: dict[str, str], path: str) -> None:
        response = await client.patch(path, headers=admin, json={"author": "x"})
        assert response.status_code == 405, response.text
        assert response.headers["content-type"] == "application/problem+json"
