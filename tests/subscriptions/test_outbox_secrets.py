"""Issue 10, item 8: a confirmation link is a secret (whoever holds it confirms the address),
so a mail that will never be sent keeps no copy of it. Bodies were cleared only once sent:
a refused or abandoned confirmation kept its link in the outbox for good."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.outbox import OutboxRepository
from app.models import ConfirmationToken, OutboundEmail
from app.subscriptions import tokens
from tests.mail_fixtures import TOKEN, SmtpServer, deliver, link_token
from tests.subscriber_factories import create_newsletter, subscribe

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(autouse=True)
async def daily(session: AsyncSession) -> Any:
    return await create_newsletter(session, slug="daily", name="Daily")


@pytest.fixture
def minted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every confirmation token handed out, in plain text, as the mail would carry it."""
    made: list[str] = []
    original = tokens.confirmation_token

    def recording(secret: str, seed: str) -> str:
        plaintext = original(secret, seed)
        made.append(plaintext)
        return plaintext

    monkeypatch.setattr(tokens, "confirmation_token", recording)
    return made


async def outbox(session: AsyncSession) -> list[OutboundEmail]:
    session.expire_all()
    return list((await session.exec(select(OutboundEmail).order_by(col(OutboundEmail.id)))).all())


async def assert_no_row_holds(session: AsyncSession, secrets: list[str]) -> list[OutboundEmail]:
    rows = await outbox(session)
    assert rows and secrets
    for row in rows:
        stored = repr(row.model_dump())
        assert not any(secret in stored for secret in secrets), stored
    return rows


class TestUndeliveredConfirmations:
    async def test_a_refused_confirmation_keeps_no_link(
        self, client: httpx.AsyncClient, smtp: SmtpServer, session: AsyncSession, minted: list[str]
    ) -> None:
        smtp.handler.reply = "554 5.6.0 Message rejected"

        assert (await subscribe(client, "refused@example.com")).status_code == 202

        [row] = await assert_no_row_holds(session, minted)
        assert row.status == "failed"

    async def test_a_confirmation_out_of_attempts_keeps_no_link(
        self,
        app: Any,
        client: httpx.AsyncClient,
        smtp: SmtpServer,
        session: AsyncSession,
        clock: Any,
        minted: list[str],
    ) -> None:
        app.state.settings = app.state.settings.model_copy(update={"mail_max_attempts": 2})
        smtp.handler.reply = "451 4.3.0 Try again later"
        await subscribe(client, "unlucky@example.com")  # first attempt: queued for a retry
        clock.now += timedelta(days=1)

        await deliver(app, clock)  # the last attempt

        [row] = await assert_no_row_holds(session, minted)
        assert (row.status, row.attempts) == ("failed", 2)

    async def test_a_lost_last_attempt_keeps_no_link(
        self, app: Any, client: httpx.AsyncClient, session: AsyncSession, minted: list[str]
    ) -> None:
        app.state.settings = app.state.settings.model_copy(update={"send_mail_on_request": False})
        await subscribe(client, "crashed@example.com")
        repository, now, lease = OutboxRepository(session), datetime.now(UTC), timedelta(minutes=5)
        await repository.claim(now=now, limit=1, lease=lease, max_attempts=1)  # then it crashed

        later = now + lease + timedelta(seconds=1)
        assert await repository.claim(now=later, limit=1, lease=lease, max_attempts=1) == []

        [row] = await assert_no_row_holds(session, minted)
        assert row.status == "failed"


async def stored_text(session: AsyncSession) -> str:
    """Everything the outbox and the confirmation tokens hold, as a leak would show it."""
    session.expire_all()
    rows = [
        *(await session.exec(select(OutboundEmail))).all(),
        *(await session.exec(select(ConfirmationToken))).all(),
    ]
    return repr([row.model_dump() for row in rows])


class TestQueuedConfirmations:
    """The rest of item 8: the link was in plain text while its mail waited to be sent."""

    async def test_a_waiting_confirmation_holds_no_link_and_the_mail_still_confirms(
        self,
        app: Any,
        client: httpx.AsyncClient,
        smtp: SmtpServer,
        session: AsyncSession,
        clock: Any,
    ) -> None:
        app.state.settings = app.state.settings.model_copy(update={"send_mail_on_request": False})
        await subscribe(client, "waiting@example.com")
        waiting = await stored_text(session)

        await deliver(app, clock)

        token = link_token(smtp.messages[0])
        assert token not in waiting and token not in await stored_text(session)
        confirmed = await client.post("/v1/subscriptions/confirm", json={"token": token})
        assert confirmed.status_code == 200

    async def test_nothing_stored_confirms_anyone(
        self, app: Any, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        app.state.settings = app.state.settings.model_copy(update={"send_mail_on_request": False})
        await subscribe(client, "leaked@example.com")
        session.expire_all()
        values = {
            str(value)
            for row in [
                *(await session.exec(select(OutboundEmail))).all(),
                *(await session.exec(select(ConfirmationToken))).all(),
            ]
            for value in row.model_dump().values()
            if isinstance(value, str)
        }
        values |= {found for value in values for found in TOKEN.findall(value)}

        for value in values:
            answer = await client.post("/v1/subscriptions/confirm", json={"token": value[:128]})
            assert answer.status_code != 200, value
