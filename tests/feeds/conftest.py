"""A small catalogue for the feed tests: a human and an AI author, a ticker with an alias,
a tag, and articles whose text exercises XML escaping and non-Latin scripts."""

from dataclasses import dataclass
from datetime import timedelta

import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.models import Article, Author, Tag, Ticker
from tests import factories
from tests.conftest import Clock, bearer

TRICKY_TITLE = 'AT&T <beats> "estimates" 🚀 — 阿里巴巴 and Ωmega'


@dataclass
class Catalogue:
    human: Author
    agent: Author
    ticker: Ticker
    tag: Tag
    by_human: Article
    by_agent: Article


@pytest_asyncio.fixture
async def catalogue(session: AsyncSession, clock: Clock) -> Catalogue:
    ticker = await factories.create_ticker(
        session, "NVDA", name="NVIDIA Corporation", exchange="NASDAQ", aliases=["NVDA.MX"]
    )
    tag = await factories.create_tag(session, "chips", name="Chips & AI")
    human = await factories.create_author(session, name="Priya Raman")
    agent = await factories.create_author(session, name="ChipWatch", kind="ai_agent")
    by_human = await factories.create_article(
        session,
        author=human,
        now=clock.now,
        published_ago=timedelta(hours=2),
        title=TRICKY_TITLE,
        dek='Margins & <guidance> "beat"; 利润 up.',
        body_markdown="Full **analysis** of $NVDA & friends.",
        tickers=["NVDA"],
        tags=["chips"],
        hero_image={"url": "https://img.example/hero.jpg", "alt": "A chip", "credit": "Photo desk"},
    )
    by_agent = await factories.create_article(
        session,
        author=agent,
        now=clock.now,
        published_ago=timedelta(hours=1),
        title="Chip stocks firm before the open",
        dek="Semiconductors edge higher.",
        body_markdown="Agent-written body about $NVDA.",
        editorial_review={"reviewed_by": "Desk Editor"},
    )
    return Catalogue(human, agent, ticker, tag, by_human, by_agent)


async def plaintext_key(session: AsyncSession, *scopes: Scope) -> str:
    headers = await bearer(session, *scopes)
    return headers["Authorization"].removeprefix("Bearer ")
