"""Every table, imported here so Alembic's autogenerate sees the whole schema."""

from app.models.api_key import ApiKey
from app.models.article import Article, ArticleTag, ArticleTicker
from app.models.author import Author
from app.models.change import ArticleChange, ArticleChangeTicker, ArticleMirrorState, ChangeLogHead
from app.models.comment import Comment, CommentReport
from app.models.content_key import ContentKey
from app.models.newsletter import Newsletter, NewsletterEdition
from app.models.outbox import OutboundEmail
from app.models.reader import Reader, ReaderSession, ReaderSignIn
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
from app.models.webhook import WebhookAttempt, WebhookEndpoint, WebhookEvent

__all__ = [
    "ApiKey",
    "Article",
    "ArticleChange",
    "ArticleChangeTicker",
    "ArticleMirrorState",
    "ArticleTag",
    "ArticleTicker",
    "Author",
    "ChangeLogHead",
    "Comment",
    "CommentReport",
    "ContentKey",
    "ConfirmationToken",
    "Newsletter",
    "NewsletterEdition",
    "OutboundEmail",
    "Reader",
    "ReaderSession",
    "ReaderSignIn",
    "Subscriber",
    "SubscriberAuthor",
    "SubscriberEvent",
    "SubscriberNewsletter",
    "SubscriberTicker",
    "Tag",
    "Ticker",
    "TickerAlias",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
]

# Registers the listeners that note which content every write touches and rebuild the
# stored cards it changes, for every session: the API's, the CLI's and the tests'.
from app.caching import changes as _content_changes  # noqa: E402,F401
from app.articles import documents as _stored_cards  # noqa: E402,F401
