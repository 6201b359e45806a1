"""Newsletters and subscribers for tests, made through the services."""

from datetime import UTC, datetime
from itertools import count
from typing import Any

import httpx
from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models import Newsletter, OutboundEmail, Subscriber
from app.newsletters import service as newsletters_service
from app.newsletters.schemas import NewsletterCreate
from app.settings import Settings
from app.subscriptions import service as subscriptions_service
from app.subscriptions.schemas import SubscriptionRequest
from tests.mail_fixtures import SmtpServer, link_token

_sequence = count(1)


async def create_newsletter(session: AsyncSession, **overrides: Any) -> Newsletter:
    n = next(_sequence)
    values: dict[str, Any] = {"slug": f"letter-{n}", "name": f"Letter {n}", "time_zone": "UTC"}
    newsletter = await newsletters_service.create_newsletter(
        session, data=NewsletterCreate(**values | overrides), now=datetime.now(UTC)
    )
    await session.commit()
    return newsletter


async def create_subscriber(
    session: AsyncSession,
    settings: Settings,
    *,
    newsletters: list[str],
    email: str | None = None,
    status: str = "active",
    tickers: list[str] | None = None,
    authors: list[str] | None = None,
) -> Subscriber:
    """A subscriber in the given state without going through mail."""
    now = datetime.now(UTC)
    email = email or f"reader{next(_sequence)}@example.com"
    data = SubscriptionRequest(
        email=email, newsletters=newsletters, tickers=tickers or [], authors=authors or []
    )
    await subscriptions_service.subscribe(
        session, data=data, client="192.0.2.1", settings=settings, now=now
    )
    subscriber = await subscriptions_service.SubscriberRepository(session).get_by_email_key(
        email.lower()
    )
    assert subscriber is not None
    # Tests about editions count every mail the server receives; leave the confirmation out.
    await session.exec(
        delete(OutboundEmail).where(col(OutboundEmail.subscriber_id) == subscriber.id)
    )  # type: ignore[call-overload]
    if status != "pending":
        subscriber.status = "active" if status == "active" else status
        subscriber.confirmed_at = now
    if status == "unsubscribed":
        subscriber.unsubscribed_at = now
    await session.commit()
    return subscriber


async def subscribe(client: httpx.AsyncClient, email: str, **body: Any) -> httpx.Response:
    return await client.post(
        "/v1/subscriptions", json={"email": email, "newsletters": ["daily"], **body}
    )


async def confirm_by_mail(
    client: httpx.AsyncClient, smtp: SmtpServer, email: str, **body: Any
) -> dict[str, Any]:
    """Subscribes, takes the token from the mail that arrived, confirms; the confirmed subscription."""
    response = await subscribe(client, email, **body)
    assert response.status_code == 202, response.text
    mails = smtp.handler.to(email)
    assert mails, "no confirmation mail arrived"
    confirmed = await client.post(
        "/v1/subscriptions/confirm", json={"token": link_token(mails[-1])}
    )
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()
