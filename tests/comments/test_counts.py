"""`comment_count` and `comments_open` on cards and the article page, the stored card
kept current, validators that move with a comment exactly where it shows, and counts that
stay exact with writers on many connections at once (PostgreSQL)."""

import asyncio
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.comments import service as comments_service
from app.db import create_engine, create_sessionmaker
from app.models import Article, Author, Comment, Reader
from app.settings import Settings
from tests.comments.helpers import approved, moderate, posted
from tests.conftest import bearer
from tests.factories import create_article, create_author, create_tag, create_ticker
from tests.mail_fixtures import SmtpServer
from tests.reader_fixtures import named_reader

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def moderator(session: AsyncSession) -> dict[str, str]:
    return await bearer(session, Scope.COMMENTS_MODERATE)


async def card_of(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    [card] = [item for item in (await client.get("/v1/articles")).json()["items"] if item["slug"] == slug]
    return card


class TestCounts:
    async def test_cards_and_the_page_count_approved_comments_only(
        self, client: httpx.AsyncClient, session: AsyncSession, smtp: SmtpServer, moderator: dict[str, str]
    ) -> None:
        article = await create_article(session, author=await create_author(session))
        ada = await named_reader(client, smtp, "Ada")
        first = await approved(client, article.slug, ada, moderator)
        await approved(client, article.slug, ada, moderator, "A reply.", parent_id=first["id"])
        await posted(client, article.slug, ada, "Still waiting.")

        assert (await card_of(client, article.slug))["comment_count"] == 2
        detail = (await client.get(f"/v1/articles/{article.slug}")).json()
        assert (detail["comment_count"], detail["comments_open"]) == (2, True)
        stored = await session.get_one(Article, article.id, populate_existing=True)
        assert (stored.card or {})["comment_count"] == 2

        await moderate(client, moderator, first["id"], "rejected")

        assert (await card_of(client, article.slug))["comment_count"] == 1
        await session.refresh(stored)
        assert (stored.card or {})["comment_count"] == 1


class TestValidators:
    async def test_a_comment_changes_its_article_its_threads_and_its_lists_and_nothing_else(
        self, client: httpx.AsyncClient, session: AsyncSession, smtp: SmtpServer, moderator: dict[str, str]
    ) -> None:
        await create_ticker(session, "NVDA")
        await create_tag(session, "earnings")
        author = await create_author(session)
        other_author = await create_author(session)
        article = await create_article(session, author=author, tickers=["NVDA"], tags=["earnings"])
        other = await create_article(session, author=other_author)
        ada = await named_reader(client, smtp, "Ada")
        parent = await approved(client, article.slug, ada, moderator)
        other_comment = await approved(client, other.slug, ada, moderator)
        shows_it = [
            f"/v1/articles/{article.slug}", f"/v1/articles/{article.slug}/comments",
            f"/v1/comments/{parent['id']}/replies", "/v1/articles", "/v1/articles?ticker=NVDA",
            f"/v1/articles?author={author.slug}", "/v1/articles?tag=earnings", "/v1/tickers/NVDA/articles",
        ]
        elsewhere = [
            f"/v1/articles/{other.slug}", f"/v1/articles/{other.slug}/comments",
            f"/v1/comments/{other_comment['id']}/replies", f"/v1/articles?author={other_author.slug}",
            "/v1/tags", "/v1/tickers", "/v1/authors", f"/v1/authors/{author.slug}",
        ]

        async def etags(paths: list[str]) -> dict[str, str]:
            found = {}
            for path in paths:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.text)
                found[path] = response.headers["etag"]
            return found

        before_shown, before_elsewhere = await etags(shows_it), await etags(elsewhere)
        reply = await posted(client, article.slug, ada, "A pending reply.", parent_id=parent["id"])
        pending_shown = await etags(shows_it)
        # A pending comment shows nowhere public: at most its thread's validators move.
        assert {path for path in shows_it if pending_shown[path] != before_shown[path]} <= set(shows_it[1:3])

        await moderate(client, moderator, reply["id"])

        after_shown, after_elsewhere = await etags(shows_it), await etags(elsewhere)
        assert [path for path in shows_it if after_shown[path] == before_shown[path]] == []
        assert after_elsewhere == before_elsewhere
        conditional = await client.get(shows_it[0], headers={"If-None-Match": after_shown[shows_it[0]]})
        assert conditional.status_code == 304

    async def test_a_rename_changes_the_threads_the_reader_wrote_in(
        self, client: httpx.AsyncClient, session: AsyncSession, smtp: SmtpServer, moderator: dict[str, str]
    ) -> None:
        article = await create_article(session, author=await create_author(session))
        quiet = await create_article(session, author=await create_author(session))
        ada = await named_reader(client, smtp, "Ada")
        await approved(client, article.slug, ada, moderator)
        thread, page, untouched = (f"/v1/articles/{article.slug}/comments", f"/v1/articles/{article.slug}",
                                   f"/v1/articles/{quiet.slug}/comments")
        before = {path: (await client.get(path)).headers["etag"] for path in (thread, page, untouched)}

        await client.patch("/v1/readers/me", json={"display_name": "Ada L."}, headers=ada)

        after = {path: (await client.get(path)).headers["etag"] for path in (thread, page, untouched)}
        assert after[thread] != before[thread]
        assert (after[page], after[untouched]) == (before[page], before[untouched])
        assert (await client.get(thread)).json()["items"][0]["author"]["display_name"] == "Ada L."


@pytest_asyncio.fixture
async def committed(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """An article and trusted readers committed for real: each writer below has its own
    connection, which the rolled-back test connection cannot give."""
    engine = create_engine(settings)
    makers = create_sessionmaker(engine)
    made: dict[str, Any] = {"sessionmaker": makers, "settings": settings}
    try:
        async with makers() as session:
            author = await create_author(session)
            article = await create_article(session, author=author)
            readers = [
                Reader(email=f"concurrent{n}-{article.id}@example.com", email_key=f"concurrent{n}-{article.id}@example.com",
                       display_name=f"Reader {n}", approved_count=10 if n % 2 else 0,
                       created_at=datetime.now(UTC) - timedelta(days=30), updated_at=datetime.now(UTC))
                for n in range(8)
            ]
            session.add_all(readers)
            await session.commit()
            made |= {"author_id": author.id, "article_id": article.id, "readers": readers}
        yield made
    finally:
        async with makers() as session:
            if "article_id" in made:
                await session.exec(delete(Article).where(col(Article.id) == made["article_id"]))  # type: ignore[call-overload]
                await session.exec(delete(Reader).where(col(Reader.id).in_([r.id for r in made["readers"]])))  # type: ignore[call-overload]
                await session.exec(delete(Author).where(col(Author.id) == made["author_id"]))  # type: ignore[call-overload]
            await session.commit()
        await engine.dispose()


@pytest.mark.skipif(
    os.environ.get("TEST_DATABASE_URL", "sqlite").startswith("sqlite"),
    reason="SQLite has one writer at a time; concurrent writers need PostgreSQL",
)
class TestConcurrentWriters:
    async def test_counts_stay_exact_with_posting_and_moderation_at_once(self, committed: dict[str, Any]) -> None:
        makers, settings = committed["sessionmaker"], committed["settings"].model_copy(
            update={"comment_trust_threshold": 5}
        )
        article_id = committed["article_id"]
        async with makers() as session:
            parent = await comments_service.post_comment(
                session, await session.get_one(Article, article_id), committed["readers"][1],
                body_markdown="The thread starts here.", parent_id=None, settings=settings, now=datetime.now(UTC),
            )
            await session.commit()
        rng = random.Random(14)

        async def write(n: int) -> None:
            reader = committed["readers"][n % len(committed["readers"])]
            async with makers() as session:
                await asyncio.sleep(rng.random() / 100)
                own = await session.get_one(Reader, reader.id)
                comment = await comments_service.post_comment(
                    session, await session.get_one(Article, article_id), own,
                    body_markdown=f"Comment {n} from {own.display_name}",
                    parent_id=parent.id if n % 3 == 0 else None, settings=settings, now=datetime.now(UTC),
                )
                await session.commit()
            if comment.status == "pending" and n % 2 == 0:
                async with makers() as session:
                    fresh = await session.get_one(Comment, comment.id)
                    await comments_service.moderate(session, fresh, status="approved", now=datetime.now(UTC))
                    await session.commit()

        await asyncio.gather(*(write(n) for n in range(40)))

        async with makers() as session:
            approved_count = (await session.exec(
                select(func.count()).select_from(Comment).where(Comment.article_id == article_id, Comment.status == "approved")
            )).one()
            replies = (await session.exec(
                select(func.count()).select_from(Comment).where(Comment.parent_id == parent.id, Comment.status == "approved")
            )).one()
            article = await session.get_one(Article, article_id, populate_existing=True)
            stored_parent = await session.get_one(Comment, parent.id, populate_existing=True)
        assert approved_count > 20
        assert article.comment_count == approved_count
        assert (article.card or {})["comment_count"] == approved_count
        assert stored_parent.reply_count == replies
