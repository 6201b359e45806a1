"""Double opt-in subscriptions: request, confirm, manage, unsubscribe; history is never deleted."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.outbox import OutboxRepository
from app.mail.rendering import render_confirmation
from app.models import (
    ConfirmationToken,
    Newsletter,
    Subscriber,
    SubscriberEvent,
)
from app.problems import Conflict, Unauthorized
from app.settings import Settings
from app.subscriptions import preferences, tokens
from app.subscriptions.problems import ExpiredToken, InvalidToken, UsedToken
from app.subscriptions.repository import SubscriberRepository, TokenRepository
from app.subscriptions.schemas import PreferencesUpdate, SubscriptionRequest
from app.updates import changes_of


async def _record(
    session: AsyncSession,
    subscriber: Subscriber,
    kind: str,
    *,
    client: str | None,
    now: datetime,
    consent_version: str | None = None,
) -> None:
    assert subscriber.id is not None
    await SubscriberRepository(session).add_event(
        SubscriberEvent(
            subscriber_id=subscriber.id,
            kind=kind,
            occurred_at=now,
            client_address=client,
            consent_version=consent_version,
        )
    )


async def _find_or_create(
    session: AsyncSession, email: str, *, settings: Settings, now: datetime
) -> Subscriber:
    repository = SubscriberRepository(session)
    key = email.lower()
    existing = await repository.get_by_email_key(key)
    if existing is not None:
        return existing
    subscriber = Subscriber(
        email=email,
        email_key=key,
        status="pending",
        token_nonce=tokens.new_nonce(),
        requested_at=now,
        consent_version=settings.consent_text_version,
        created_at=now,
        updated_at=now,
        newsletter_links=[],
        ticker_links=[],
        author_links=[],
    )
    try:
        async with session.begin_nested():
            await repository.add(subscriber)
    except IntegrityError:
        # A concurrent request created the same address first; carry on with that row.
        # (Rolling back the savepoint already removed our pending object from the session.)
        if subscriber in session:
            session.expunge(subscriber)
        found = await repository.get_by_email_key(key)
        assert found is not None
        return found
    return subscriber


async def subscribe(
    session: AsyncSession,
    *,
    data: SubscriptionRequest,
    client: str | None,
    settings: Settings,
    now: datetime,
) -> int | None:
    """Records the request; returns the outbox id of a confirmation mail to send, if one is due.

    An active subscriber's preferences are not touched: anyone may type any address, and
    only the owner of the mailbox (through its manage token) may change them.
    """
    newsletters, tickers, authors = await preferences.resolve(
        session, newsletters=data.newsletters, tickers=data.tickers, authors=data.authors
    )
    subscriber = await _find_or_create(session, data.email, settings=settings, now=now)
    if subscriber.status == "active":
        await _record(session, subscriber, "requested_while_active", client=client, now=now)
        return None
    preferences.apply(subscriber, newsletters, tickers, authors)
    subscriber.status = "pending"
    subscriber.requested_at, subscriber.requested_from = now, client
    subscriber.consent_version, subscriber.updated_at = settings.consent_text_version, now
    await session.flush()
    await _record(
        session,
        subscriber,
        "requested",
        client=client,
        now=now,
        consent_version=settings.consent_text_version,
    )
    return await _queue_confirmation(
        session, subscriber, newsletters or [], settings=settings, now=now
    )


async def _queue_confirmation(
    session: AsyncSession,
    subscriber: Subscriber,
    newsletters: list[Newsletter],
    *,
    settings: Settings,
    now: datetime,
) -> int | None:
    assert subscriber.id is not None
    repository = TokenRepository(session)
    latest = await repository.latest_unused_created_at(subscriber.id)
    if latest is not None and now - latest < timedelta(
        minutes=settings.confirmation_resend_minutes
    ):
        return None  # one mail per window: repeated requests must not flood the inbox
    plaintext, token_hash = tokens.new_confirmation_token()
    ttl = timedelta(hours=settings.confirmation_token_ttl_hours)
    await repository.add(
        ConfirmationToken(
            subscriber_id=subscriber.id, token_hash=token_hash, created_at=now, expires_at=now + ttl
        )
    )
    mail = render_confirmation(
        newsletters,
        confirm_url=f"{settings.site_url}/newsletters/confirm?token={plaintext}",
        ttl_hours=settings.confirmation_token_ttl_hours,
    )
    message = await OutboxRepository(session).add_rendered(
        kind="confirmation",
        subscriber_id=subscriber.id,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        now=now,
    )
    return message.id


async def confirm(
    session: AsyncSession, *, token: str, client: str | None, now: datetime
) -> Subscriber:
    """Activates the subscriber of a valid confirmation token.

    Every other confirmation token of theirs is spent with it, so an older mail cannot
    confirm again later (say, after they unsubscribe). A subscriber coming back after
    unsubscribing gets a new token nonce: the manage and unsubscribe links of the mails
    sent before they left stop working, and only the new ones (the `manage_token` of
    this answer, the links of later mails) act on the renewed subscription.
    """
    repository = TokenRepository(session)
    found = await repository.get_by_hash(tokens.hash_token(token))
    if found is None:
        raise InvalidToken(
            "The confirmation token is not valid. Use the link from the latest mail."
        )
    if found.used_at is not None:
        raise UsedToken("The confirmation token has already been used.")
    if found.expires_at <= now:
        raise ExpiredToken("The confirmation token has expired. Subscribe again to get a new link.")
    if not await repository.use(found, now=now):
        raise UsedToken("The confirmation token has already been used.")
    await repository.use_all_unused(found.subscriber_id, now=now)
    subscriber = await SubscriberRepository(session).get(found.subscriber_id)
    assert subscriber is not None
    if subscriber.unsubscribed_at is not None:  # back after leaving: old links are revoked
        subscriber.token_nonce = tokens.new_nonce()
    subscriber.status = "active"
    subscriber.confirmed_at, subscriber.confirmed_from = now, client
    subscriber.unsubscribed_at, subscriber.updated_at = None, now
    await session.flush()
    await _record(
        session,
        subscriber,
        "confirmed",
        client=client,
        now=now,
        consent_version=subscriber.consent_version,
    )
    return subscriber


async def authenticate(
    session: AsyncSession, token: str, *, secret: str, purposes: Sequence[str]
) -> Subscriber:
    subscriber_id = tokens.subscriber_id_of(token)
    subscriber = await SubscriberRepository(session).get(subscriber_id) if subscriber_id else None
    if subscriber is None or not any(
        tokens.verify(secret, purpose, token, subscriber.id, subscriber.token_nonce)  # type: ignore[arg-type]
        for purpose in purposes
    ):
        raise Unauthorized("The subscription token is not valid or has been revoked.")
    return subscriber


async def update_preferences(
    session: AsyncSession,
    subscriber: Subscriber,
    *,
    data: PreferencesUpdate,
    client: str | None,
    now: datetime,
) -> Subscriber:
    if subscriber.status != "active":
        raise Conflict("This subscription is not active; subscribe again to receive newsletters.")
    changes = changes_of(data)
    preferences.apply(
        subscriber,
        *await preferences.resolve(
            session,
            newsletters=changes.get("newsletters"),
            tickers=changes.get("tickers"),
            authors=changes.get("authors"),
        ),
    )
    subscriber.updated_at = now
    await session.flush()
    await _record(session, subscriber, "preferences_changed", client=client, now=now)
    return subscriber


async def unsubscribe(
    session: AsyncSession, subscriber: Subscriber, *, client: str | None, now: datetime
) -> Subscriber:
    """Idempotent: a second request changes nothing and records nothing.

    Confirmation tokens still unused are spent, so no earlier mail can re-activate."""
    assert subscriber.id is not None
    await TokenRepository(session).use_all_unused(subscriber.id, now=now)
    if subscriber.status != "unsubscribed":
        subscriber.status, subscriber.unsubscribed_at, subscriber.updated_at = (
            "unsubscribed",
            now,
            now,
        )
        await session.flush()
        await _record(session, subscriber, "unsubscribed", client=client, now=now)
    return subscriber


async def load_subscribers(session: AsyncSession, ids: Sequence[int]) -> dict[int, Subscriber]:
    return await SubscriberRepository(session).get_many(list(set(ids)))


async def list_subscribers(
    session: AsyncSession,
    *,
    status: str | None,
    newsletter_id: int | None,
    after: list[int] | None,
    limit: int,
) -> list[Subscriber]:
    return await SubscriberRepository(session).list(
        status=status, newsletter_id=newsletter_id, after=after, limit=limit
    )


def manage_token(settings: Settings, subscriber: Subscriber) -> str:
    """The one place a manage token is signed: the confirm answer and every mail use it."""
    assert subscriber.id is not None
    return tokens.sign(settings.secret_key, tokens.MANAGE, subscriber.id, subscriber.token_nonce)


def unsubscribe_token(settings: Settings, subscriber: Subscriber) -> str:
    assert subscriber.id is not None
    return tokens.sign(
        settings.secret_key, tokens.UNSUBSCRIBE, subscriber.id, subscriber.token_nonce
    )
