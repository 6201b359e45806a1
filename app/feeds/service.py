"""The subject of each feed and its newest items."""

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.articles.filters import FeedFilters
from app.articles.queries import CardPage, read_feed
from app.feeds.document import FeedSubject
from app.fields import symbol_in_path
from app.models import Author, Tag, Ticker, TickerAlias
from app.problems import NotFound

FEED_SIZE = 50
SITE_NAME = "tickerfeed"


def site_subject(site_url: str) -> tuple[FeedSubject, FeedFilters]:
    subject = FeedSubject(
        key="articles",
        title=f"{SITE_NAME}: latest headlines",
        description="Daily stock and crypto headlines from journalists and AI writing agents.",
        home_url=site_url,
    )
    return subject, FeedFilters()


async def ticker_subject(
    connection: AsyncConnection, symbol: str, site_url: str
) -> tuple[FeedSubject, FeedFilters]:
    """By symbol or alias, any case."""
    name = symbol.upper()
    by_alias = select(TickerAlias.ticker_id).where(TickerAlias.alias == name)
    statement = select(Ticker.id, Ticker.symbol, Ticker.name).where(
        or_(col(Ticker.symbol) == name, col(Ticker.id).in_(by_alias))
    )
    ticker = (await connection.execute(statement)).first()
    if ticker is None:
        raise NotFound(f"No ticker with symbol '{name}'.")
    subject = FeedSubject(
        key=f"ticker:{ticker.symbol}",
        title=f"{SITE_NAME}: {ticker.symbol} ({ticker.name})",
        description=f"Headlines on {ticker.name} ({ticker.symbol}).",
        home_url=f"{site_url}/tickers/{symbol_in_path(ticker.symbol)}",
    )
    return subject, FeedFilters(ticker_ids=(ticker.id,))


async def author_subject(
    connection: AsyncConnection, slug: str, site_url: str
) -> tuple[FeedSubject, FeedFilters]:
    statement = select(Author.id, Author.slug, Author.name, Author.kind, Author.bio).where(Author.slug == slug)
    author = (await connection.execute(statement)).first()
    if author is None:
        raise NotFound(f"No author with slug '{slug}'.")
    label = f"{author.name} (AI agent)" if author.kind == "ai_agent" else author.name
    subject = FeedSubject(
        key=f"author:{author.slug}",
        title=f"{SITE_NAME}: {label}",
        description=author.bio[:500] or f"Articles by {label}.",
        home_url=f"{site_url}/authors/{author.slug}",
    )
    return subject, FeedFilters(author_id=author.id)


async def tag_subject(
    connection: AsyncConnection, slug: str, site_url: str
) -> tuple[FeedSubject, FeedFilters]:
    statement = select(Tag.id, Tag.slug, Tag.name, Tag.description).where(Tag.slug == slug)
    tag = (await connection.execute(statement)).first()
    if tag is None:
        raise NotFound(f"No tag with slug '{slug}'.")
    subject = FeedSubject(
        key=f"tag:{tag.slug}",
        title=f"{SITE_NAME}: {tag.name}",
        description=tag.description or f"Articles tagged {tag.name}.",
        home_url=f"{site_url}/tags/{tag.slug}",
    )
    return subject, FeedFilters(tag_id=tag.id)


async def newest(connection: AsyncConnection, filters: FeedFilters, *, now: datetime, full_text: bool) -> CardPage:
    return await read_feed(connection, filters, now=now, limit=FEED_SIZE, full_text=full_text)
