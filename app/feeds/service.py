"""The subject of each feed and its newest items."""

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service as articles_service
from app.articles.repository import FeedFilters
from app.authors import service as authors_service
from app.feeds.document import FeedSubject
from app.models import Article
from app.tags import service as tags_service
from app.tickers import service as tickers_service

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
    session: AsyncSession, symbol: str, site_url: str
) -> tuple[FeedSubject, FeedFilters]:
    ticker = await tickers_service.get_ticker(session, symbol)
    subject = FeedSubject(
        key=f"ticker:{ticker.symbol}",
        title=f"{SITE_NAME}: {ticker.symbol} ({ticker.name})",
        description=f"Headlines on {ticker.name} ({ticker.symbol}).",
        home_url=f"{site_url}/tickers/{ticker.symbol}",
    )
    return subject, FeedFilters(ticker_ids=(ticker.id or 0,))


async def author_subject(
    session: AsyncSession, slug: str, site_url: str
) -> tuple[FeedSubject, FeedFilters]:
    author = await authors_service.get_author(session, slug)
    label = f"{author.name} (AI agent)" if author.kind == "ai_agent" else author.name
    subject = FeedSubject(
        key=f"author:{author.slug}",
        title=f"{SITE_NAME}: {label}",
        description=author.bio[:500] or f"Articles by {label}.",
        home_url=f"{site_url}/authors/{author.slug}",
    )
    return subject, FeedFilters(author_id=author.id)


async def tag_subject(
    session: AsyncSession, slug: str, site_url: str
) -> tuple[FeedSubject, FeedFilters]:
    tag = await tags_service.get_tag(session, slug)
    subject = FeedSubject(
        key=f"tag:{tag.slug}",
        title=f"{SITE_NAME}: {tag.name}",
        description=tag.description or f"Articles tagged {tag.name}.",
        home_url=f"{site_url}/tags/{tag.slug}",
    )
    return subject, FeedFilters(tag_id=tag.id)


async def newest_articles(
    session: AsyncSession, filters: FeedFilters, *, now: datetime
) -> list[Article]:
    rows = await articles_service.list_feed(session, filters, now=now, limit=FEED_SIZE, after=None)
    return [article for article, _ in rows]
