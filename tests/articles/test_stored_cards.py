"""Stored cards (app.articles.documents): every write that changes what a card shows
rebuilds it in the same transaction, and a process rebuilds the stale ones when it starts."""

from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from app.articles.documents import CARD_REVISION, refresh_stale_cards
from app.models import Article
from tests.factories import create_article, create_author, create_tag, create_ticker

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def first_card(client, path: str = "/v1/articles") -> dict:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()["items"][0]


async def detail(client, slug: str) -> dict:
    response = await client.get(f"/v1/articles/{slug}")
    assert response.status_code == 200, response.text
    return response.json()


def card_fields(document: dict) -> dict:
    """What a list's card and the article page's live card have in common."""
    return {name: document[name] for name in (
        "id", "slug", "title", "dek", "published_at", "updated_at", "reading_time_minutes", "hero_image",
        "author", "tickers", "tags", "ai_generated", "canonical_url",
    )} | {"author": {name: document["author"][name] for name in ("id", "slug", "name", "kind", "avatar_url")}}


class TestWritesRebuildCards:
    async def test_a_new_article_is_listed_as_its_page_shows_it(self, client, session):
        author = await create_author(session)
        await create_ticker(session, "NVDA", name="NVIDIA Corporation")
        await create_tag(session, "earnings")
        article = await create_article(
            session, author=author, tickers=["NVDA"], tags=["earnings"],
            hero_image={"url": "https://img.example/a.png", "alt": "A chart", "credit": "Desk"},
        )
        listed = await first_card(client)
        assert listed["tickers"][0]["name"] == "NVIDIA Corporation"
        assert card_fields(listed) == card_fields(await detail(client, article.slug))

    async def test_editing_an_article_rebuilds_its_card(self, client, session, writer):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_tag(session, "chips")
        article = await create_article(session, author=author)
        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={
            "title": "A new title", "tickers": ["NVDA"], "tags": ["chips"],
        })
        assert response.status_code == 200, response.text
        listed = await first_card(client)
        assert (listed["title"], [t["symbol"] for t in listed["tickers"]], [t["slug"] for t in listed["tags"]]) == (
            "A new title", ["NVDA"], ["chips"]
        )
        assert card_fields(listed) == card_fields(await detail(client, article.slug))

    async def test_renaming_an_author_ticker_or_tag_rebuilds_the_cards_that_show_it(self, client, session, writer):
        author = await create_author(session, slug="ada", name="Ada")
        await create_ticker(session, "NVDA", name="Nvidia")
        tag = await create_tag(session, "chips", name="Chips")
        article = await create_article(session, author=author, tickers=["NVDA"], tags=["chips"])
        for path, body in (
            ("/v1/authors/ada", {"name": "Ada Lovelace", "avatar_url": "https://img.example/ada.png"}),
            ("/v1/tickers/NVDA", {"name": "NVIDIA Corporation", "exchange": "NASDAQ"}),
        ):
            response = await client.patch(path, headers=writer, json=body)
            assert response.status_code == 200, response.text
        tag.name = "Semiconductors"  # tags have no write route; any session's write counts
        await session.commit()
        listed = await first_card(client)
        assert listed["author"]["name"] == "Ada Lovelace"
        assert listed["author"]["avatar_url"] == "https://img.example/ada.png"
        assert (listed["tickers"][0]["name"], listed["tickers"][0]["exchange"]) == ("NVIDIA Corporation", "NASDAQ")
        assert listed["tags"][0]["name"] == "Semiconductors"
        assert card_fields(listed) == card_fields(await detail(client, article.slug))

    async def test_a_field_no_card_shows_leaves_the_cards_alone(self, client, session, writer, connection):
        author = await create_author(session, slug="ada")
        article = await create_article(session, author=author)
        await connection.execute(update(Article).where(col(Article.id) == article.id).values(card_revision=-1))
        response = await client.patch("/v1/authors/ada", headers=writer, json={"bio": "Writes about chips."})
        assert response.status_code == 200, response.text
        revision = await connection.scalar(select(Article.card_revision).where(col(Article.id) == article.id))
        assert revision == -1


class TestStaleCards:
    @staticmethod
    def savepoints(connection):
        @asynccontextmanager
        async def begin():
            async with connection.begin_nested():
                yield connection

        return begin

    async def test_a_starting_process_rebuilds_cards_of_another_revision_or_none(self, client, session, connection):
        author = await create_author(session, name="Ada")
        older = await create_article(session, author=author, title="Older")
        newer = await create_article(session, author=author, title="Newer")
        await connection.execute(update(Article).where(col(Article.id) == older.id).values(card=None, card_revision=0))
        await connection.execute(
            update(Article).where(col(Article.id) == newer.id).values(card={"title": "stale"}, card_revision=CARD_REVISION - 1)
        )

        rebuilt = await refresh_stale_cards(self.savepoints(connection))

        assert rebuilt == 2
        titles = [item["title"] for item in (await client.get("/v1/articles")).json()["items"]]
        assert titles == ["Newer", "Older"]
        assert await refresh_stale_cards(self.savepoints(connection)) == 0
