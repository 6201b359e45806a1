"""Which content keys a write bumps: only those of what it changed (app.caching.changes)."""

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.articles import service as articles_service
from app.articles.schemas import ArticleUpdate
from app.models import ContentKey
from tests import factories
from tests.conftest import SITE_URL, Clock

pytestmark = pytest.mark.asyncio


async def versions(session: AsyncSession) -> dict[str, int]:
    return {key.name: key.version for key in (await session.exec(select(ContentKey))).all()}


def bumped(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {name for name, version in after.items() if before.get(name) != version}


async def edit(session: AsyncSession, slug: str, clock: Clock, **changes: Any) -> None:
    article = await articles_service.get_article_for_edit(session, slug)
    await articles_service.update_article(
        session, article, data=ArticleUpdate(**changes), site_url=SITE_URL, now=clock.now
    )
    await session.commit()


async def test_a_publish_bumps_the_article_its_lists_and_the_counts(session: AsyncSession, clock: Clock) -> None:
    ticker = await factories.create_ticker(session, "NVDA")
    author = await factories.create_author(session)
    tag = await factories.create_tag(session, "earnings")
    start = await versions(session)

    article = await factories.create_article(session, author=author, now=clock.now, tickers=["NVDA"], tags=["earnings"])

    assert bumped(start, await versions(session)) == {
        f"article:{article.id}", "articles", f"author:{author.id}", f"ticker:{ticker.id}", f"tag:{tag.id}", "counts",
    }


async def test_an_edit_of_the_text_leaves_the_counts(session: AsyncSession, clock: Clock) -> None:
    author = await factories.create_author(session)
    article = await factories.create_article(session, author=author, now=clock.now)
    start = await versions(session)

    await edit(session, article.slug, clock, title="Retitled")

    assert bumped(start, await versions(session)) == {f"article:{article.id}", "articles", f"author:{author.id}"}


async def test_moving_an_article_bumps_the_lists_it_left_and_joined(session: AsyncSession, clock: Clock) -> None:
    nvda = await factories.create_ticker(session, "NVDA")
    amd = await factories.create_ticker(session, "AMD")
    author = await factories.create_author(session)
    article = await factories.create_article(session, author=author, now=clock.now, tickers=["NVDA"])
    start = await versions(session)

    await edit(session, article.slug, clock, tickers=["AMD"])

    assert {f"ticker:{nvda.id}", f"ticker:{amd.id}", "counts"} <= bumped(start, await versions(session))


async def test_a_draft_edit_bumps_only_its_own_page(session: AsyncSession, clock: Clock) -> None:
    author = await factories.create_author(session)
    draft = await factories.create_article(session, author=author, now=clock.now, status="draft", published_ago=None)
    start = await versions(session)

    await edit(session, draft.slug, clock, title="Still a draft")

    assert bumped(start, await versions(session)) == {f"article:{draft.id}"}


async def test_a_rolled_back_change_bumps_nothing_later(session: AsyncSession, clock: Clock) -> None:
    author = await factories.create_author(session)
    article = await factories.create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=2))
    start = await versions(session)
    loaded = await articles_service.get_article_for_edit(session, article.slug)
    loaded.title = "Never saved"
    await session.flush()
    await session.rollback()

    await factories.create_tag(session, "macro")

    assert bumped(start, await versions(session)) == {"all"}
