"""Every table, imported here so Alembic's autogenerate sees the whole schema."""

from app.models.api_key import ApiKey
from app.models.article import Article, ArticleTag, ArticleTicker
from app.models.author import Author
from app.models.newsletter import Newsletter
from app.models.tag import Tag
from app.models.ticker import Ticker, TickerAlias

__all__ = [
    "ApiKey",
    "Article",
    "ArticleTag",
    "ArticleTicker",
    "Author",
    "Newsletter",
    "Tag",
    "Ticker",
    "TickerAlias",
]
