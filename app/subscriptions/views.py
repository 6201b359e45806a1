"""Subscribers as the allow-listed shapes clients see."""

from app.models import Subscriber
from app.subscriptions.schemas import ConsentRecord, SubscriberRead, SubscriptionRead


def _fields(subscriber: Subscriber) -> dict[str, object]:
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "newsletters": sorted(link.newsletter.slug for link in subscriber.newsletter_links),
        "tickers": sorted(link.ticker.symbol for link in subscriber.ticker_links),
        "authors": sorted(link.author.slug for link in subscriber.author_links),
        "requested_at": subscriber.requested_at,
        "confirmed_at": subscriber.confirmed_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
    }


def to_read(subscriber: Subscriber) -> SubscriptionRead:
    return SubscriptionRead.model_validate(_fields(subscriber))


def to_admin_read(subscriber: Subscriber) -> SubscriberRead:
    consent = ConsentRecord(
        requested_at=subscriber.requested_at,
        requested_from=subscriber.requested_from,
        confirmed_at=subscriber.confirmed_at,
        confirmed_from=subscriber.confirmed_from,
        consent_version=subscriber.consent_version,
    )
    return SubscriberRead.model_validate(
        _fields(subscriber)
        | {
            "id": subscriber.id,
            "created_at": subscriber.created_at,
            "updated_at": subscriber.updated_at,
            "consent": consent,
        }
    )
