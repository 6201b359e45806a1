"""Issue 10, items 5 and 10: no email address, token or key in any log line.

A whole subscriber's life runs against a real uvicorn server on loopback (so its access log
is the one production writes) and a real SMTP server, with every logger at DEBUG: the
engine's SQL, the SQLite driver, uvicorn's access and error logs, ours. Before, the access
log kept `?token=` and `?key=`, the engine logged each statement's parameters and each row
(addresses included), and an SMTP refusal was logged with the server's reply quoting the
recipient's address.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.newsletters import sending
from app.newsletters.repository import NewsletterRepository
from tests.conftest import bearer
from tests.mail_fixtures import SmtpServer, deliver, free_port, link_token
from tests.mail_fixtures import app, smtp  # noqa: F401  (fixtures)
from tests.subscriber_factories import create_newsletter

pytestmark = pytest.mark.asyncio
OWNER, REFUSED = "owner.privacy@example.com", "refused.privacy@example.com"
# The test's own client and the receiving SMTP server log what they send and receive; they
# stand for a browser and a mail provider, not for this service.
OUTSIDE_THE_SERVICE = ("httpx", "httpcore", "mail.log")
UNSUBSCRIBE_URL = re.compile(r"<([^>]+)>")


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """DEBUG everywhere, before the test's database connection exists: SQLAlchemy decides
    per connection whether to log statements."""
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy", "aiosqlite", "asyncpg", "uvicorn", "uvicorn.access", "uvicorn.error", "tickerfeed"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest_asyncio.fixture
async def server(every_log: Any, app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind uvicorn, as `tickerfeed serve` runs it; mail goes out when the test
    delivers it, so nothing else uses the test's one database connection meanwhile."""
    app.state.settings = app.state.settings.model_copy(update={"send_mail_on_request": False})
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, log_level="debug"
    )
    uvicorn_server = uvicorn.Server(config)
    serving = asyncio.create_task(uvicorn_server.serve())
    while not uvicorn_server.started:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    uvicorn_server.should_exit = True
    await serving


def one_click_url(mail: EmailMessage) -> str:
    found = UNSUBSCRIBE_URL.search(mail["List-Unsubscribe"])
    assert found
    return found.group(1).replace("https://api.news.example", "")


def logged_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    formatter = logging.Formatter("%(message)s")
    return [
        (record.name, formatter.format(record))
        for record in caplog.records
        if not record.name.startswith(OUTSIDE_THE_SERVICE)
    ]


class TestNothingPersonalInLogs:
    async def test_a_subscribe_confirm_send_unsubscribe_flow_logs_no_address_token_or_key(
        self,
        every_log: pytest.LogCaptureFixture,
        server: httpx.AsyncClient,
        app: Any,
        session: AsyncSession,
        smtp: SmtpServer,
        clock: Any,
    ) -> None:
        await create_newsletter(session, slug="daily", name="Daily")
        feed_key = (await bearer(session, Scope.FEEDS_FULL))["Authorization"][7:]
        admin_key = (await bearer(session, Scope.ADMIN))["Authorization"][7:]

        assert (await server.post("/v1/subscriptions", json={"email": OWNER, "newsletters": ["daily"]})).status_code == 202
        await deliver(app, clock)
        confirmation = link_token(smtp.handler.to(OWNER)[0])
        confirmed = await server.post("/v1/subscriptions/confirm", json={"token": confirmation})
        manage = confirmed.json()["manage_token"]
        assert (await server.get("/v1/subscriptions/me", params={"token": manage})).status_code == 200
        assert (await server.get("/feeds/articles.rss", params={"key": feed_key})).status_code == 200
        assert (await server.get("/feeds/articles.rss", params={"key": admin_key})).status_code == 403

        await sending.queue_edition(
            session, slug="daily", day=None, allow_empty=True, settings=app.state.settings, now=clock.now
        )
        await session.commit()
        await deliver(app, clock)
        edition = smtp.handler.to(OWNER)[-1]
        leave_url = one_click_url(edition)
        unsubscribed = await server.post(leave_url, data={"List-Unsubscribe": "One-Click"})
        assert unsubscribed.json()["status"] == "unsubscribed"

        smtp.handler.reply = f"550 5.1.1 <{REFUSED}>: Recipient address rejected"
        await server.post("/v1/subscriptions", json={"email": REFUSED, "newsletters": ["daily"]})
        assert (await deliver(app, clock)).failed == 1
        smtp.handler.reply = None

        lines = logged_lines(every_log)
        names = {name for name, _ in lines}
        assert {"uvicorn.access", "sqlalchemy.engine.Engine", "tickerfeed.mail"} <= names
        secrets = {
            OWNER, OWNER.split("@")[0], REFUSED, REFUSED.split("@")[0], confirmation, manage,
            leave_url.split("token=")[1], feed_key, admin_key,
        }
        leaks = [(name, line) for name, line in lines for secret in secrets if secret in line]
        assert leaks == []

    async def test_a_conflict_caught_by_the_safety_net_logs_no_values(
        self,
        every_log: pytest.LogCaptureFixture,
        client: httpx.AsyncClient,
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The 409 safety net logged the whole IntegrityError: statement and parameters."""
        admin = await bearer(session, Scope.ADMIN)
        body = {"slug": "weekly", "name": "Weekly", "description": f"Edited by {OWNER}"}
        assert (await client.post("/v1/newsletters", json=body, headers=admin)).status_code == 201

        async def nothing_yet(self: Any, slug: str) -> None:  # a concurrent writer won the race
            return None

        monkeypatch.setattr(NewsletterRepository, "get_by_slug", nothing_yet)
        again = await client.post("/v1/newsletters", json=body, headers=admin)

        assert again.status_code == 409
        warnings = [line for name, line in logged_lines(every_log) if name == "tickerfeed"]
        assert warnings and "409" in warnings[-1]
        assert [line for _, line in logged_lines(every_log) if OWNER in line] == []
