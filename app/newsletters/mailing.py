"""Turns claimed outbox rows into mail: a personal copy of an edition, or a stored confirmation."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message

from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles.cards import to_card
from app.articles.schemas import ArticleCard
from app.mail.rendering import RenderedMail, render_edition
from app.mail.transport import Outgoing, build_message
from app.models import Newsletter, OutboundEmail, Subscriber
from app.newsletters import service
from app.settings import Settings
from app.subscriptions import service as subscriptions_service
from app.subscriptions import tokens


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
            articles = await service.edition_articles(
                session, newsletter, day, now=now, limit=settings.edition_max_articles
            )
            self.editions[key] = (
                newsletter,
                [to_card(article, settings.site_url) for article in articles],
            )
        return self.editions[key]


def subscriber_links(settings: Settings, subscriber: Subscriber) -> tuple[str, str, str]:
    """Manage page, unsubscribe page, and the RFC 8058 one-click URL."""
    assert subscriber.id is not None
    manage = tokens.sign(settings.secret_key, tokens.MANAGE, subscriber.id, subscriber.token_nonce)
    leave = tokens.sign(
        settings.secret_key, tokens.UNSUBSCRIBE, subscriber.id, subscriber.token_nonce
    )
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
) -> dict[int, Outgoing | None]:
    """Mail and envelope recipient per outbox id; None where the subscriber has left since
    the row was queued."""
    subscribers = await subscriptions_service.load_subscribers(
        session, [message.subscriber_id for message in messages]
    )
    composed: dict[int, Outgoing | None] = {}
    for message in messages:
        assert message.id is not None
        subscriber = subscribers.get(message.subscriber_id)
        built: Message | None
        if subscriber is None:
            built = None
        elif message.kind == "edition":
            built = await _edition(session, settings, message, subscriber, now, cache)
        else:
            mail = RenderedMail(
                message.subject or "", message.body_text or "", message.body_html or ""
            )
            built = build_message(settings, to=subscriber.email, mail=mail, now=now)
        composed[message.id] = (
            None if built is None or subscriber is None else Outgoing(subscriber.email, built)
        )
    return composed


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
    manage_url, unsubscribe_page, one_click = subscriber_links(settings, subscriber)
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
