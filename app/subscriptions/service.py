"""Double opt-in subscriptions: request, confirm, manage, unsubscribe; history is never deleted."""

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.mail.outbox import OutboxRepository
from app.mail.rendering import RenderedMail, render_confirmation
from app.models import (
    ConfirmationToken,
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
    session: AsyncSession,
    email: str,
    chosen: preferences.Chosen,
    *,
    client: str | None,
    settings: Settings,
    now: datetime,
) -> Subscriber:
    """The address's subscriber; a new one starts pending with the preferences of the
    request that created it."""
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
        requested_from=client,
        consent_version=settings.consent_text_version,
        created_at=now,
        updated_at=now,
        newsletter_links=[],
        ticker_links=[],
        author_links=[],
    )
    preferences.apply(subscriber, *chosen)
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

    Anyone may type any address, so a request changes no subscriber's preferences: an
    active subscriber's change only through the manage token, and a pending one's only
    when a link is confirmed, to what that link's request asked for.
    """
    newsletters, tickers, authors = await preferences.resolve(
        session, newsletters=data.newsletters, tickers=data.tickers, authors=data.authors
    )
    chosen = (newsletters or [], tickers or [], authors or [])
    subscriber = await _find_or_create(
        session, data.email, chosen, client=client, settings=settings, now=now
    )
    if subscriber.status == "active":
        await _record(session, subscriber, "requested_while_active", client=client, now=now)
        return None
    subscriber.status, subscriber.updated_at = "pending", now
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
        session, subscriber, chosen, client=client, settings=settings, now=now
    )


async def _queue_confirmation(
    session: AsyncSession,
    subscriber: Subscriber,
    chosen: preferences.Chosen,
    *,
    client: str | None,
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
    seed = tokens.new_seed()
    newsletters, tickers, authors = chosen
    token = await repository.add(
        ConfirmationToken(
            subscriber_id=subscriber.id,
            token_hash=tokens.hash_token(tokens.confirmation_token(settings.secret_key, seed)),
            seed=seed,
            newsletter_ids=[newsletter.id for newsletter in newsletters],
            ticker_ids=[ticker.id for ticker in tickers],
            author_ids=[author.id for author in authors],
            requested_from=client,
            consent_version=settings.consent_text_version,
            created_at=now,
            expires_at=now + timedelta(hours=settings.confirmation_token_ttl_hours),
        )
    )
    assert token.id is not None
    message = await OutboxRepository(session).add_confirmation(
        subscriber_id=subscriber.id, confirmation_token_id=token.id, now=now
    )
    return message.id


async def confirmation_mail(
    session: AsyncSession, settings: Settings, token_id: int, *, now: datetime
) -> RenderedMail | None:
    """The confirmation mail of a token, its link minted now; None once the token can no
    longer confirm (used, expired), since such a mail would only disappoint."""
    token = await session.get(ConfirmationToken, token_id)
    if token is None or token.used_at is not None or token.expires_at <= now:
        return None
    newsletters, _, _ = await preferences.requested_with(session, token)
    plaintext = tokens.confirmation_token(settings.secret_key, token.seed)
    return render_confirmation(
        newsletters,
        confirm_url=f"{settings.site_url}/newsletters/confirm?token={plaintext}",
        ttl_hours=math.ceil((token.expires_at - now) / timedelta(hours=1)),
    )


async def confirm(
    session: AsyncSession, *, token: str, client: str | None, now: datetime
) -> Subscriber:
    """Activates the subscriber of a valid confirmation token, with the preferences and the
    consent record of the request that token was mailed for.

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
    preferences.apply(subscriber, *await preferences.requested_with(session, found))
    subscriber.requested_at, subscriber.requested_from = found.created_at, found.requested_from
    subscriber.consent_version = found.consent_version
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
    session: AsyncSession, token: str, *, secret: str, purposes: Sequence[str], now: datetime
) -> Subscriber:
    subscriber_id = tokens.subscriber_id_of(token)
    subscriber = await SubscriberRepository(session).get(subscriber_id) if subscriber_id else None
    if subscriber is None or not any(
        tokens.verify(
            secret, purpose, token, subscriber.id, subscriber.token_nonce, now=now.timestamp()  # type: ignore[arg-type]
        )
        for purpose in purposes
    ):
        raise Unauthorized(
            "The subscription token is not valid, has expired or has been revoked; "
            "use the link from your latest mail."
        )
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


def manage_token(settings: Settings, subscriber: Subscriber, *, now: datetime) -> str:
    """The one place a manage token is signed: the confirm answer and every mail use it,
    each with a new one that expires `manage_token_ttl_days` after it was minted."""
    assert subscriber.id is not None
    expires = now + timedelta(days=settings.manage_token_ttl_days)
    return tokens.sign(
        settings.secret_key,
        tokens.MANAGE,
        subscriber.id,
        subscriber.token_nonce,
        expires=int(expires.timestamp()),
    )


def unsubscribe_token(settings: Settings, subscriber: Subscriber) -> str:
    assert subscriber.id is not None
    return tokens.sign(
        settings.secret_key, tokens.UNSUBSCRIBE, subscriber.id, subscriber.token_nonce
    )
