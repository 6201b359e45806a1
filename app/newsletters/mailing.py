"""Turns claimed outbox rows into mail: a personal copy of an edition, or a confirmation
whose link is minted now."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message

from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.schemas import ArticleCard
from app.mail.rendering import render_edition
from app.mail.transport import Outgoing, build_message
from app.models import Newsletter, OutboundEmail, Subscriber
from app.newsletters import service
from app.readers import service as readers_service
from app.settings import Settings
from app.subscriptions import service as subscriptions_service


logger = logging.getLogger("tickerfeed.mail")


@dataclass(frozen=True)
class Unbuildable:
    """A row whose mail could not be built; the deliverer retries it (then gives up)."""

    error: str


@dataclass
class EditionCache:
    """Each edition is read once per delivery run, however many batches it spans."""

    editions: dict[tuple[int, date], tuple[Newsletter, list[ArticleCard]]] = field(
        default_factory=dict
    )

    async def get(
        self,
        session: AsyncSession,
        settings: Settings,
        newsletter_id: int,
        day: date,
        now: datetime,
    ) -> tuple[Newsletter, list[ArticleCard]]:
        key = (newsletter_id, day)
        if key not in self.editions:
            newsletter = await session.get_one(Newsletter, newsletter_id)
            cards = await service.edition_cards(
                await session.connection(), newsletter, day,
                now=now, limit=settings.edition_max_articles, site_url=settings.site_url,
            )
            self.editions[key] = (newsletter, [ArticleCard.model_validate(card) for card in cards])
        return self.editions[key]


def subscriber_links(
    settings: Settings, subscriber: Subscriber, *, now: datetime
) -> tuple[str, str, str]:
    """Manage page, unsubscribe page, and the RFC 8058 one-click URL; the manage token is
    minted for this mail and expires (issue 10, item 5)."""
    manage = subscriptions_service.manage_token(settings, subscriber, now=now)
    leave = subscriptions_service.unsubscribe_token(settings, subscriber)
    return (
        f"{settings.site_url}/newsletters/manage?token={manage}",
        f"{settings.site_url}/newsletters/unsubscribe?token={leave}",
        f"{settings.api_url}/v1/subscriptions/unsubscribe?token={leave}",
    )


async def compose(
    session: AsyncSession,
    settings: Settings,
    messages: Sequence[OutboundEmail],
    *,
    now: datetime,
    cache: EditionCache,
) -> dict[int, Outgoing | Unbuildable | None]:
    """Mail and envelope recipient per outbox id; None where the subscriber has left since
    the row was queued. One row that cannot be built does not hold back the others."""
    subscribers = await subscriptions_service.load_subscribers(
        session, [message.subscriber_id for message in messages if message.subscriber_id is not None]
    )
    composed: dict[int, Outgoing | Unbuildable | None] = {}
    for message in messages:
        assert message.id is not None
        subscriber = subscribers.get(message.subscriber_id) if message.subscriber_id else None
        if subscriber is None and message.kind != "sign_in":
            composed[message.id] = None
            continue
        try:
            if subscriber is None:
                composed[message.id] = await _sign_in(session, settings, message, now)
            else:
                composed[message.id] = await _compose_one(
                    session, settings, message, subscriber, now, cache
                )
        except Exception as error:
            logger.exception("mail %s could not be built", message.id)
            composed[message.id] = Unbuildable(f"{type(error).__name__}: {error}"[:500])
    return composed


async def _compose_one(
    session: AsyncSession,
    settings: Settings,
    message: OutboundEmail,
    subscriber: Subscriber,
    now: datetime,
    cache: EditionCache,
) -> Outgoing | None:
    if message.kind == "edition":
        built = await _edition(session, settings, message, subscriber, now, cache)
    else:
        assert message.confirmation_token_id is not None
        mail = await subscriptions_service.confirmation_mail(
            session, settings, message.confirmation_token_id, now=now
        )
        built = None if mail is None else build_message(settings, to=subscriber.email, mail=mail, now=now)
    return None if built is None else Outgoing(subscriber.email, built)


async def _sign_in(
    session: AsyncSession, settings: Settings, message: OutboundEmail, now: datetime
) -> Outgoing | None:
    """A reader's sign-in link, through the same outbox and SMTP path as newsletters."""
    assert message.reader_sign_in_id is not None
    found = await readers_service.sign_in_mail(session, settings, message.reader_sign_in_id, now=now)
    if found is None:
        return None
    recipient, mail = found
    return Outgoing(recipient, build_message(settings, to=recipient, mail=mail, now=now))


async def _edition(
    session: AsyncSession,
    settings: Settings,
    message: OutboundEmail,
    subscriber: Subscriber,
    now: datetime,
    cache: EditionCache,
) -> Message | None:
    assert message.newsletter_id is not None and message.edition_date is not None
    receives = {link.newsletter_id for link in subscriber.newsletter_links}
    if subscriber.status != "active" or message.newsletter_id not in receives:
        return None
    newsletter, cards = await cache.get(
        session, settings, message.newsletter_id, message.edition_date, now
    )
    manage_url, unsubscribe_page, one_click = subscriber_links(settings, subscriber, now=now)
    mail = render_edition(
        newsletter,
        message.edition_date,
        cards,
        tickers={link.ticker.symbol for link in subscriber.ticker_links},
        authors={link.author.slug for link in subscriber.author_links},
        manage_url=manage_url,
        unsubscribe_url=unsubscribe_page,
    )
    host = settings.site_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return build_message(
        settings,
        to=subscriber.email,
        mail=mail,
        now=now,
        unsubscribe_url=one_click,
        list_id=f"{newsletter.name} <{newsletter.slug}.{host}>",
    )
