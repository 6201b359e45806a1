"""Every table, imported here so Alembic's autogenerate sees the whole schema."""

from app.models.api_key import ApiKey
from app.models.article import Article, ArticleTag, ArticleTicker
from app.models.author import Author
from app.models.newsletter import Newsletter
from app.models.outbox import OutboundEmail
from app.models.subscription import (
    ConfirmationToken,
    Subscriber,
    SubscriberAuthor,
    SubscriberEvent,
    SubscriberNewsletter,
    SubscriberTicker,
)
from app.models.tag import Tag
from app.models.ticker import Ticker, TickerAlias

__all__ = [
    "ApiKey",
    "Article",
    "ArticleTag",
    "ArticleTicker",
    "Author",
    "ConfirmationToken",
    "Newsletter",
    "OutboundEmail",
    "Subscriber",
    "SubscriberAuthor",
    "SubscriberEvent",
    "SubscriberNewsletter",
    "SubscriberTicker",
    "Tag",
    "Ticker",
    "TickerAlias",
]
