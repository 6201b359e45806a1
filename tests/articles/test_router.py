"""/v1/articles: the feed and its filters, one article, related articles and the writes."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.articles import search
from app.api_keys.scopes import Scope
from app.models import Article, Author
from tests.conftest import API_URL, SITE_URL, bearer
from tests.factories import create_article, create_author, create_tag, create_ticker
from tests.helpers import (
    ANY_ID,
    assert_problem,
    assert_validation_error,
    iso,
    problem,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


def author_card(author: Author) -> dict[str, Any]:
    return {
        "id": author.id,
        "slug": author.slug,
        "name": author.name,
        "kind": author.kind,
        "avatar_url": author.avatar_url,
    }


def card(article: Article, author: Author, **overrides: Any) -> dict[str, Any]:
    """The card the API should serve for an article made by the factories."""
    return {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "dek": article.dek,
        "published_at": iso(article.published_at) if article.published_at else None,
        "updated_at": iso(article.updated_at),
        "reading_time_minutes": 1,
        "hero_image": None,
        "author": author_card(author),
        "tickers": [],
        "tags": [],
        "ai_generated": author.kind == "ai_agent",
        "canonical_url": f"{SITE_URL}/articles/{article.slug}",
        "comment_count": 0,
        "comments_open": True,
    } | overrides


def author_box(author: Author) -> dict[str, Any]:
    """The article page's author box: the card plus the persona fields."""
    return author_card(author) | {
        "bio": author.bio, "expertise": author.expertise, "audience": author.audience, "disclosure": author.disclosure,
    }


def slugs(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["slug"] for item in response.json()["items"]]


class TestListArticles:
    async def test_serves_cards_newest_first(self, client, session, clock):
        author = await create_author(session, name="Ada Lovelace")
        older = await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=3))
        newer = await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=1))

        response = await client.get("/v1/articles")

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert "link" not in response.headers
        assert response.json() == {
            "items": [card(newer, author), card(older, author)],
            "next_cursor": None,
        }

    async def test_orders_equal_publication_times_by_id_descending(self, client, session, clock):
        author = await create_author(session)
        moment = clock.now - timedelta(hours=1)
        made = [
            await create_article(session, author=author, now=clock.now, published_at=moment)
            for _ in range(3)
        ]

        response = await client.get("/v1/articles")

        assert slugs(response) == [article.slug for article in sorted(made, key=lambda a: -a.id)]

    async def test_shows_only_published_due_and_undeleted_articles(self, client, session, clock, writer):
        author = await create_author(session)
        visible = await create_article(session, author=author, now=clock.now)
        await create_article(session, author=author, now=clock.now, status="draft", published_ago=None)
        await create_article(session, author=author, now=clock.now, status="archived")
        await create_article(session, author=author, now=clock.now, published_ago=-timedelta(minutes=5))
        deleted = await create_article(session, author=author, now=clock.now)
        assert (await client.delete(f"/v1/articles/{deleted.slug}", headers=writer)).status_code == 204

        assert slugs(await client.get("/v1/articles")) == [visible.slug]
        # An editor's key does not change what the public feed lists.
        assert slugs(await client.get("/v1/articles", headers=writer)) == [visible.slug]

    async def test_hides_scheduled_until_due(self, client, session, clock):
        author = await create_author(session)
        scheduled = await create_article(
            session, author=author, now=clock.now, published_ago=-timedelta(hours=2)
        )

        assert slugs(await client.get("/v1/articles")) == []
        clock.now += timedelta(hours=2)
        assert slugs(await client.get("/v1/articles")) == [scheduled.slug]

    async def test_serves_cards_without_body(self, client, session, clock):
        author = await create_author(session)
        await create_article(session, author=author, now=clock.now, body_markdown="Secret body words.")

        item = (await client.get("/v1/articles")).json()["items"][0]

        assert not {"body_html", "body_markdown", "word_count", "status"} & item.keys()

    async def test_uses_default_page_size_of_twenty(self, client, session, clock):
        author = await create_author(session)
        for hours in range(21):
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=hours + 1))

        body = (await client.get("/v1/articles")).json()

        assert len(body["items"]) == 20
        assert body["next_cursor"] is not None

    async def test_sends_link_to_next_page(self, client, session, clock):
        author = await create_author(session)
        made = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=h))
            for h in (1, 2, 3)
        ]

        first = await client.get("/v1/articles", params={"limit": 2})
        cursor = first.json()["next_cursor"]
        expected_url = f"{API_URL}/v1/articles?limit=2&cursor={cursor}"
        assert first.headers["link"] == f'<{expected_url}>; rel="next"'

        second = await client.get(expected_url)
        assert slugs(second) == [made[2].slug]
        assert second.json()["next_cursor"] is None
        assert "link" not in second.headers

    @pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
    async def test_refuses_limit_out_of_range(self, client, limit):
        response = await client.get("/v1/articles", params={"limit": limit})

        assert_validation_error(response, ["query", "limit"])

    @pytest.mark.parametrize("limit", [1, 100])
    async def test_accepts_limit_bounds(self, client, session, clock, limit):
        author = await create_author(session)
        await create_article(session, author=author, now=clock.now)
        await create_article(session, author=author, now=clock.now)

        body = (await client.get("/v1/articles", params={"limit": limit})).json()

        assert len(body["items"]) == min(limit, 2)


class TestListArticlesFilters:
    async def test_filters_by_any_of_several_tickers(self, client, session, clock):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_ticker(session, "MSFT")
        await create_ticker(session, "BABA")
        nvda = await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=timedelta(hours=3))
        msft = await create_article(session, author=author, now=clock.now, tickers=["MSFT"], published_ago=timedelta(hours=2))
        await create_article(session, author=author, now=clock.now, tickers=["BABA"], published_ago=timedelta(hours=1))
        both = await create_article(session, author=author, now=clock.now, tickers=["NVDA", "MSFT"], published_ago=timedelta(minutes=30))

        response = await client.get("/v1/articles", params=[("ticker", "nvda"), ("ticker", "MSFT")])

        assert slugs(response) == [both.slug, msft.slug, nvda.slug]

    async def test_one_ticker_feed_follows_republishing_and_pages_by_cursor(self, client, session, clock, writer):
        # The single-ticker feed reads article_ticker's trigger-kept copy of published_at.
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        older = await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=timedelta(hours=3))
        newer = await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=timedelta(hours=2))
        scheduled = await create_article(session, author=author, now=clock.now, tickers=["NVDA"], published_ago=timedelta(hours=-1))
        assert slugs(await client.get("/v1/articles?ticker=NVDA")) == [newer.slug, older.slug]

        moved = (clock.now - timedelta(hours=1)).isoformat()
        response = await client.patch(f"/v1/articles/{older.slug}", headers=writer, json={"published_at": moved})
        assert response.status_code == 200
        assert (await client.patch(f"/v1/articles/{scheduled.slug}", headers=writer, json={"status": "draft"})).status_code == 200

        first = await client.get("/v1/articles?ticker=NVDA&limit=1")
        second = await client.get(f"/v1/articles?ticker=NVDA&limit=1&cursor={first.json()['next_cursor']}")
        assert slugs(first) == [older.slug]
        assert slugs(second) == [newer.slug]
        assert second.json()["next_cursor"] is None

    async def test_ticker_filter_accepts_aliases_and_mentions(self, client, session, clock):
        author = await create_author(session)
        await create_ticker(session, "GOOGL", aliases=["GOOG"])
        named = await create_article(session, author=author, now=clock.now, tickers=["GOOGL"], published_ago=timedelta(hours=2))
        mentioned = await create_article(session, author=author, now=clock.now, body_markdown="Watch $GOOG today.")
        await create_article(session, author=author, now=clock.now)

        assert slugs(await client.get("/v1/articles?ticker=goog")) == [mentioned.slug, named.slug]

    async def test_refuses_unknown_ticker_naming_it(self, client, session):
        await create_ticker(session, "NVDA")

        response = await client.get("/v1/articles", params=[("ticker", "NVDA"), ("ticker", "NOPE")])

        assert_validation_error(response, ["query", "ticker", 1])
        assert "NOPE" in response.json()["errors"][0]["msg"]

    async def test_filters_by_author(self, client, session, clock):
        ada = await create_author(session)
        bob = await create_author(session)
        mine = await create_article(session, author=ada, now=clock.now)
        await create_article(session, author=bob, now=clock.now)

        assert slugs(await client.get(f"/v1/articles?author={ada.slug}")) == [mine.slug]

    async def test_refuses_unknown_author(self, client):
        response = await client.get("/v1/articles?author=nobody")

        assert_validation_error(response, ["query", "author"])
        assert "nobody" in response.json()["errors"][0]["msg"]

    async def test_filters_by_tag(self, client, session, clock):
        author = await create_author(session)
        await create_tag(session, "earnings")
        await create_tag(session, "policy")
        tagged = await create_article(session, author=author, now=clock.now, tags=["earnings"])
        await create_article(session, author=author, now=clock.now, tags=["policy"])

        assert slugs(await client.get("/v1/articles?tag=earnings")) == [tagged.slug]

    async def test_refuses_unknown_tag(self, client):
        response = await client.get("/v1/articles?tag=nothing")

        assert_validation_error(response, ["query", "tag"])
        assert "nothing" in response.json()["errors"][0]["msg"]

    async def test_filters_by_author_kind(self, client, session, clock):
        human = await create_author(session)
        agent = await create_author(session, kind="ai_agent")
        by_human = await create_article(session, author=human, now=clock.now)
        by_agent = await create_article(session, author=agent, now=clock.now)

        assert slugs(await client.get("/v1/articles?author_kind=human")) == [by_human.slug]
        assert slugs(await client.get("/v1/articles?author_kind=ai_agent")) == [by_agent.slug]
        assert_validation_error(await client.get("/v1/articles?author_kind=robot"), ["query", "author_kind"])

    async def test_since_is_inclusive_and_until_exclusive(self, client, session, clock):
        author = await create_author(session)
        start = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
        before = await create_article(session, author=author, now=clock.now, published_at=start - timedelta(seconds=1))
        at_start = await create_article(session, author=author, now=clock.now, published_at=start)
        inside = await create_article(session, author=author, now=clock.now, published_at=start + timedelta(hours=1))
        at_end = await create_article(session, author=author, now=clock.now, published_at=start + timedelta(days=1))

        response = await client.get(
            "/v1/articles",
            params={"since": "2026-01-10T12:00:00Z", "until": "2026-01-11T12:00:00Z"},
        )
        assert slugs(response) == [inside.slug, at_start.slug]

        # Offsets other than Z are the same instant.
        response = await client.get("/v1/articles", params={"until": "2026-01-10T14:00:00+02:00"})
        assert slugs(response) == [before.slug]
        assert slugs(await client.get("/v1/articles", params={"since": "2026-01-11T12:00:00Z"})) == [at_end.slug]

    @pytest.mark.parametrize("name", ["since", "until"])
    @pytest.mark.parametrize(
        "value", ["yesterday", "2026-01-10T12:00:00", "2026-13-01T00:00:00Z", "1700000000", "-1", "2026-01-10"]
    )
    async def test_refuses_timestamps_that_are_not_rfc3339_with_offset(self, client, name, value):
        assert_validation_error(await client.get("/v1/articles", params={name: value}), ["query", name])

    async def test_searches_title_dek_and_body(self, client, session, clock):
        author = await create_author(session)
        in_title = await create_article(session, author=author, now=clock.now, title="Semiconductor rally continues")
        in_dek = await create_article(session, author=author, now=clock.now, dek="Why the semiconductor cycle turned.")
        in_body = await create_article(session, author=author, now=clock.now, body_markdown="Analysts discussed semiconductor supply.")
        await create_article(session, author=author, now=clock.now, title="Bond yields fall")

        found = slugs(await client.get("/v1/articles?q=semiconductor"))

        assert found == [in_title.slug, in_dek.slug, in_body.slug]

    async def test_search_ranks_by_relevance_then_newest(self, client, session, clock):
        author = await create_author(session)
        weak_new = await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=1), body_markdown="One mention of lithium.")
        strong_old = await create_article(session, author=author, now=clock.now, published_ago=timedelta(days=3), title="Lithium prices: lithium miners and lithium demand")
        tie_old = await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=5), title="Copper", body_markdown="One mention of lithium.")
        weak_new2 = await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=2), title="Copper", body_markdown="One mention of lithium.")

        found = slugs(await client.get("/v1/articles?q=lithium"))

        assert found[0] == strong_old.slug
        # Equal relevance falls back to newest first.
        assert found.index(weak_new2.slug) < found.index(tie_old.slug)
        assert set(found) == {weak_new.slug, strong_old.slug, tie_old.slug, weak_new2.slug}

    async def test_search_ranks_only_its_newest_matches(self, client, session, clock, monkeypatch):
        monkeypatch.setattr(search, "SEARCH_CANDIDATES", 3)
        author = await create_author(session)
        await create_ticker(session, "ALB")
        strong_oldest = await create_article(session, author=author, now=clock.now, published_ago=timedelta(days=9), title="Lithium, lithium, lithium", tickers=["ALB"])
        newest = [
            await create_article(session, author=author, now=clock.now, published_ago=timedelta(hours=hours), body_markdown="Lithium again.")
            for hours in (3, 2, 1)
        ]

        assert set(slugs(await client.get("/v1/articles?q=lithium"))) == {article.slug for article in newest}
        # Filters choose the candidates: the strong match is among one ticker's newest.
        assert slugs(await client.get("/v1/articles?q=lithium&ticker=ALB")) == [strong_oldest.slug]

    async def test_search_requires_every_word_and_ignores_hidden(self, client, session, clock):
        author = await create_author(session)
        both = await create_article(session, author=author, now=clock.now, title="Nvidia earnings beat")
        await create_article(session, author=author, now=clock.now, title="Nvidia unveils chip")
        await create_article(session, author=author, now=clock.now, title="Nvidia earnings draft", status="draft", published_ago=None)

        assert slugs(await client.get("/v1/articles", params={"q": "nvidia earnings"})) == [both.slug]

    @pytest.mark.parametrize("q", ['"', "AND OR NOT", "*", "nvidia*", "(a OR b", "'; DROP TABLE article; --", "NEAR(a b)", "a:b"])
    async def test_search_survives_query_syntax(self, client, session, clock, q):
        author = await create_author(session)
        await create_article(session, author=author, now=clock.now, title="Nvidia earnings")

        response = await client.get("/v1/articles", params={"q": q})

        assert response.status_code == 200, response.text
        assert response.json()["next_cursor"] is None

    async def test_search_matches_after_an_edit(self, client, session, clock, writer):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now, title="Gold steadies")
        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"title": "Silver surges"})
        assert response.status_code == 200

        assert slugs(await client.get("/v1/articles?q=silver")) == [article.slug]
        assert slugs(await client.get("/v1/articles?q=gold")) == []

    async def test_combines_filters(self, client, session, clock):
        human = await create_author(session)
        agent = await create_author(session, kind="ai_agent")
        await create_ticker(session, "NVDA")
        await create_tag(session, "chips")
        match = await create_article(session, author=agent, now=clock.now, tickers=["NVDA"], tags=["chips"], title="Nvidia chips")
        await create_article(session, author=human, now=clock.now, tickers=["NVDA"], tags=["chips"], title="Nvidia chips")
        await create_article(session, author=agent, now=clock.now, tickers=["NVDA"], title="Nvidia chips")
        await create_article(session, author=agent, now=clock.now, tags=["chips"], title="Nvidia chips")
        await create_article(session, author=agent, now=clock.now, tickers=["NVDA"], tags=["chips"], title="Unrelated")

        response = await client.get(
            "/v1/articles",
            params={"ticker": "NVDA", "tag": "chips", "author_kind": "ai_agent", "q": "nvidia", "author": agent.slug,
                    "since": iso(clock.now - timedelta(days=1)), "until": iso(clock.now)},
        )

        assert slugs(response) == [match.slug]


class TestGetArticle:
    async def test_serves_the_whole_article(self, client, session, clock):
        author = await create_author(session, name="Grace Hopper", avatar_url="https://img.example/grace.png")
        await create_ticker(session, "NVDA", name="NVIDIA Corporation", exchange="NASDAQ")
        await create_ticker(session, "AMD", name="Advanced Micro Devices")
        await create_tag(session, "chips", name="Chips")
        await create_tag(session, "ai", name="AI")
        article = await create_article(
            session,
            author=author,
            now=clock.now,
            slug="nvidia-beats",
            title="Nvidia beats",
            dek="Record data-centre sales.",
            body_markdown="## Results\n\nShares of $NVDA rose; **$AMD** fell.",
            tickers=["NVDA"],
            tags=["chips", "ai"],
            hero_image={"url": "https://img.example/nvda.jpg", "alt": "A GPU", "credit": "Photo: Jane"},
        )

        response = await client.get("/v1/articles/nvidia-beats")

        assert response.status_code == 200
        assert response.json() == card(
            article,
            author,
            hero_image={"url": "https://img.example/nvda.jpg", "alt": "A GPU", "credit": "Photo: Jane"},
            tickers=[
                {"symbol": "NVDA", "name": "NVIDIA Corporation", "asset_class": "equity", "exchange": "NASDAQ", "role": "primary"},
                {"symbol": "AMD", "name": "Advanced Micro Devices", "asset_class": "equity", "exchange": None, "role": "mentioned"},
            ],
            tags=[{"slug": "ai", "name": "AI"}, {"slug": "chips", "name": "Chips"}],
        ) | {
            "status": "published",
            "body_html": (
                "<h2>Results</h2>\n<p>Shares of "
                f'<a href="{SITE_URL}/tickers/NVDA" class="cashtag" data-symbol="NVDA" rel="noopener noreferrer">$NVDA</a>'
                " rose; <strong>"
                f'<a href="{SITE_URL}/tickers/AMD" class="cashtag" data-symbol="AMD" rel="noopener noreferrer">$AMD</a>'
                "</strong> fell.</p>\n"
            ),
            "word_count": 7,
            "editorial_review": None,
            "created_at": iso(clock.now),
            "author": author_box(author),
        }

    async def test_is_404_for_unknown_slug(self, client):
        assert_problem(
            await client.get("/v1/articles/no-such-article"),
            problem(404, "not-found", "No article with slug 'no-such-article'."),
        )

    @pytest.mark.parametrize(
        "overrides",
        [
            {"status": "draft", "published_ago": None},
            {"status": "archived"},
            {"published_ago": -timedelta(hours=1)},
        ],
        ids=["draft", "archived", "scheduled"],
    )
    async def test_hides_unpublished_from_public_but_not_editors(self, client, session, clock, writer, admin, overrides):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now, **overrides)
        url = f"/v1/articles/{article.slug}"

        assert_problem(await client.get(url), problem(404, "not-found", f"No article with slug '{article.slug}'."))
        subscriber = await bearer(session, Scope.SUBSCRIBERS_READ)
        assert (await client.get(url, headers=subscriber)).status_code == 404
        for headers in (writer, admin):
            response = await client.get(url, headers=headers)
            assert response.status_code == 200
            assert response.json()["slug"] == article.slug

    async def test_shows_scheduled_article_once_due(self, client, session, clock):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now, published_ago=-timedelta(minutes=10))

        assert (await client.get(f"/v1/articles/{article.slug}")).status_code == 404
        clock.now += timedelta(minutes=10)
        assert (await client.get(f"/v1/articles/{article.slug}")).status_code == 200

    async def test_refuses_an_invalid_key_instead_of_downgrading(self, client, session, clock):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now)

        response = await client.get(f"/v1/articles/{article.slug}", headers={"Authorization": "Bearer tfk_wrong"})

        assert_problem(response, problem(401, "unauthorized", "The API key is not valid or has been revoked."))
        assert response.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'

    @pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer ", "Token tfk_abc", ""])
    async def test_refuses_credentials_that_are_not_a_bearer_key(self, client, session, clock, authorization):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now)

        response = await client.get(f"/v1/articles/{article.slug}", headers={"Authorization": authorization})

        assert_problem(response, problem(401, "unauthorized", "Send the API key as `Authorization: Bearer <key>`."))
        assert response.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'

    async def test_labels_ai_written_articles_with_their_review(self, client, session, clock):
        agent = await create_author(session, kind="ai_agent")
        reviewed_at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
        article = await create_article(
            session, author=agent, now=clock.now,
            editorial_review={"reviewed_by": "Jane Editor", "reviewed_at": reviewed_at},
        )

        body = (await client.get(f"/v1/articles/{article.slug}")).json()

        assert body["ai_generated"] is True
        assert body["author"]["kind"] == "ai_agent"
        assert body["editorial_review"] == {"reviewed_by": "Jane Editor", "reviewed_at": "2026-11-01T09:30:00Z"}


class TestListRelatedArticles:
    async def test_ranks_shared_tickers_above_shared_tags(self, client, session, clock):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_ticker(session, "AMD")
        await create_tag(session, "chips")
        await create_tag(session, "ai")
        subject = await create_article(session, author=author, now=clock.now, tickers=["NVDA", "AMD"], tags=["chips", "ai"])
        both_tickers = await create_article(session, author=author, now=clock.now, tickers=["NVDA", "AMD"], published_ago=timedelta(days=3))
        ticker_and_tag = await create_article(session, author=author, now=clock.now, tickers=["NVDA"], tags=["ai"], published_ago=timedelta(days=2))
        one_ticker = await create_article(session, author=author, now=clock.now, tickers=["AMD"], published_ago=timedelta(days=2))
        two_tags = await create_article(session, author=author, now=clock.now, tags=["ai", "chips"], published_ago=timedelta(hours=2))
        one_tag_new = await create_article(session, author=author, now=clock.now, tags=["chips"], published_ago=timedelta(hours=3))
        one_tag_old = await create_article(session, author=author, now=clock.now, tags=["ai"], published_ago=timedelta(hours=4))
        await create_article(session, author=author, now=clock.now)
        await create_article(session, author=author, now=clock.now, tags=["ai"], status="draft", published_ago=None)

        response = await client.get(f"/v1/articles/{subject.slug}/related", params={"limit": 20})

        # Scores: 4, 3, 2 and 2 (the newer of equals first), 1 and 1.
        assert slugs(response) == [
            both_tickers.slug, ticker_and_tag.slug, two_tags.slug, one_ticker.slug,
            one_tag_new.slug, one_tag_old.slug,
        ]
        assert response.json()["next_cursor"] is None

    async def test_defaults_to_five(self, client, session, clock):
        author = await create_author(session)
        await create_tag(session, "ai")
        subject = await create_article(session, author=author, now=clock.now, tags=["ai"])
        for _ in range(6):
            await create_article(session, author=author, now=clock.now, tags=["ai"])

        assert len(slugs(await client.get(f"/v1/articles/{subject.slug}/related"))) == 5
        assert_validation_error(await client.get(f"/v1/articles/{subject.slug}/related?limit=101"), ["query", "limit"])

    async def test_is_empty_without_tickers_or_tags(self, client, session, clock):
        author = await create_author(session)
        subject = await create_article(session, author=author, now=clock.now)
        await create_article(session, author=author, now=clock.now)

        response = await client.get(f"/v1/articles/{subject.slug}/related")

        assert response.json() == {"items": [], "next_cursor": None}

    async def test_is_404_for_a_draft_to_the_public(self, client, session, clock, writer):
        author = await create_author(session)
        draft = await create_article(session, author=author, now=clock.now, status="draft", published_ago=None)

        assert (await client.get(f"/v1/articles/{draft.slug}/related")).status_code == 404
        assert (await client.get(f"/v1/articles/{draft.slug}/related", headers=writer)).status_code == 200


def article_input(writer: Author, **overrides: Any) -> dict[str, Any]:
    return {
        "title": "Markets close higher",
        "body_markdown": "Stocks rose on Friday.",
        "author": writer.slug,
        "status": "published",
    } | overrides


class TestCreateArticle:
    async def test_creates_and_renders_the_article(self, client, session, clock, writer):
        author = await create_author(session)
        await create_ticker(session, "BRK.B", name="Berkshire Hathaway", aliases=["BRK-B"])
        await create_ticker(session, "BABA", name="Alibaba", aliases=["9988.HK"])
        await create_ticker(session, "MSFT", name="Microsoft")

        response = await client.post(
            "/v1/articles",
            headers=writer,
            json=article_input(
                author,
                title="Berkshire & Alibaba: a Hong Kong bet?",
                dek="A speculative note.",
                body_markdown="Holders of $BRK-B and $9988.HK watched $MSFT, $UNKNOWN and $100 bills.",
                tickers=["msft", "BRK.B"],
            ),
        )

        assert response.status_code == 201, response.text
        assert response.headers["location"] == "/v1/articles/berkshire-alibaba-a-hong-kong-bet"
        body = response.json()
        assert body == {
            "id": ANY_ID,
            "slug": "berkshire-alibaba-a-hong-kong-bet",
            "title": "Berkshire & Alibaba: a Hong Kong bet?",
            "dek": "A speculative note.",
            "published_at": iso(clock.now),
            "updated_at": iso(clock.now),
            "created_at": iso(clock.now),
            "reading_time_minutes": 1,
            "hero_image": None,
            "author": author_box(author),
            "tickers": [
                {"symbol": "BRK.B", "name": "Berkshire Hathaway", "asset_class": "equity", "exchange": None, "role": "primary"},
                {"symbol": "MSFT", "name": "Microsoft", "asset_class": "equity", "exchange": None, "role": "primary"},
                {"symbol": "BABA", "name": "Alibaba", "asset_class": "equity", "exchange": None, "role": "mentioned"},
            ],
            "tags": [],
            "ai_generated": False,
            "canonical_url": f"{SITE_URL}/articles/berkshire-alibaba-a-hong-kong-bet",
            "comment_count": 0,
            "comments_open": True,
            "status": "published",
            "body_html": (
                "<p>Holders of "
                f'<a href="{SITE_URL}/tickers/BRK.B" class="cashtag" data-symbol="BRK.B" rel="noopener noreferrer">$BRK-B</a>'
                " and "
                f'<a href="{SITE_URL}/tickers/BABA" class="cashtag" data-symbol="BABA" rel="noopener noreferrer">$9988.HK</a>'
                " watched "
                f'<a href="{SITE_URL}/tickers/MSFT" class="cashtag" data-symbol="MSFT" rel="noopener noreferrer">$MSFT</a>'
                ", $UNKNOWN and $100 bills.</p>\n"
            ),
            "word_count": 11,
            "editorial_review": None,
        }
        fetched = await client.get(response.headers["location"])
        assert fetched.json() == body

    async def test_does_not_link_cashtags_in_code(self, client, session, writer):
        author = await create_author(session)
        await create_ticker(session, "NVDA")

        response = await client.post(
            "/v1/articles", headers=writer,
            json=article_input(author, body_markdown="Use `$NVDA` in code:\n\n    $NVDA\n"),
        )

        assert response.json()["tickers"] == []
        assert "cashtag" not in response.json()["body_html"]

    async def test_counts_words_and_reading_time(self, client, session, writer):
        author = await create_author(session)
        words = " ".join(["word"] * 461)

        body = (await client.post("/v1/articles", headers=writer, json=article_input(author, body_markdown=words))).json()

        assert (body["word_count"], body["reading_time_minutes"]) == (461, 3)

    async def test_names_every_unknown_symbol(self, client, session, writer):
        author = await create_author(session)
        await create_ticker(session, "NVDA")

        response = await client.post(
            "/v1/articles", headers=writer, json=article_input(author, tickers=["ZZZZ", "NVDA", "QQQQ"])
        )

        assert_problem(
            response,
            problem(
                422, "validation-error", "The request has invalid fields; see `errors`.",
                errors=[
                    {"loc": ["body", "tickers", 0], "msg": "unknown ticker symbol 'ZZZZ'"},
                    {"loc": ["body", "tickers", 2], "msg": "unknown ticker symbol 'QQQQ'"},
                ],
            ),
        )

    async def test_refuses_unknown_author_and_tag(self, client, session, writer):
        author = await create_author(session)

        assert_validation_error(
            await client.post("/v1/articles", headers=writer, json=article_input(author, author="ghost")),
            ["body", "author"],
        )
        assert_validation_error(
            await client.post("/v1/articles", headers=writer, json=article_input(author, tags=["nope"])),
            ["body", "tags", 0],
        )

    async def test_follows_the_author_kind_for_ai_generated(self, client, session, writer):
        agent = await create_author(session, kind="ai_agent")

        response = await client.post(
            "/v1/articles", headers=writer,
            json=article_input(agent, editorial_review={"reviewed_by": "Jane Editor"}),
        )

        assert response.status_code == 201
        assert response.json()["ai_generated"] is True
        assert response.json()["editorial_review"] == {"reviewed_by": "Jane Editor", "reviewed_at": response.json()["created_at"]}

    async def test_refuses_editorial_review_for_a_human_author(self, client, session, writer):
        human = await create_author(session)

        response = await client.post(
            "/v1/articles", headers=writer,
            json=article_input(human, editorial_review={"reviewed_by": "Jane Editor"}),
        )

        assert_validation_error(response, ["body", "editorial_review"])

    async def test_conflicts_on_a_taken_slug(self, client, session, clock, writer):
        author = await create_author(session)
        await create_article(session, author=author, now=clock.now, slug="taken")

        response = await client.post("/v1/articles", headers=writer, json=article_input(author, slug="taken"))

        assert_problem(response, problem(409, "conflict", "An article with slug 'taken' already exists."))

    async def test_conflicts_on_a_slug_derived_from_a_taken_title(self, client, session, writer):
        author = await create_author(session)
        assert (await client.post("/v1/articles", headers=writer, json=article_input(author))).status_code == 201

        response = await client.post("/v1/articles", headers=writer, json=article_input(author))

        assert response.status_code == 409

    async def test_refuses_a_title_with_no_slug_in_it(self, client, session, writer):
        author = await create_author(session)

        response = await client.post("/v1/articles", headers=writer, json=article_input(author, title="!!! ???"))

        assert_validation_error(response, ["body", "slug"])

    async def test_schedules_an_article(self, client, session, clock, writer):
        author = await create_author(session)
        due = clock.now + timedelta(hours=1)

        response = await client.post(
            "/v1/articles", headers=writer, json=article_input(author, published_at=iso(due))
        )

        assert response.status_code == 201
        assert response.json()["published_at"] == iso(due)
        assert slugs(await client.get("/v1/articles")) == []
        clock.now = due
        assert slugs(await client.get("/v1/articles")) == [response.json()["slug"]]

    async def test_keeps_a_draft_unpublished(self, client, session, writer):
        author = await create_author(session)

        response = await client.post(
            "/v1/articles", headers=writer, json=article_input(author, status="draft")
        )

        assert response.status_code == 201
        assert (response.json()["status"], response.json()["published_at"]) == ("draft", None)

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"title": ""}, ["body", "title"]),
            ({"title": "x" * 201}, ["body", "title"]),
            ({"title": "Tab\tinside"}, ["body", "title"]),
            ({"dek": "x" * 501}, ["body", "dek"]),
            ({"body_markdown": "x" * 100_001}, ["body", "body_markdown"]),
            ({"body_markdown": "nul\u0000byte"}, ["body", "body_markdown"]),
            ({"slug": "Not A Slug"}, ["body", "slug"]),
            ({"status": "live"}, ["body", "status"]),
            ({"published_at": "2026-01-01T00:00:00"}, ["body", "published_at"]),
            ({"published_at": 1700000000}, ["body", "published_at"]),
            ({"published_at": "1700000000"}, ["body", "published_at"]),
            ({"tickers": ["$$$"]}, ["body", "tickers", 0]),
            ({"tickers": ["A"] * 21}, ["body", "tickers"]),
            ({"hero_image": {"url": "javascript:alert(1)"}}, ["body", "hero_image", "url"]),
            ({"unexpected": 1}, ["body", "unexpected"]),
        ],
    )
    async def test_refuses_invalid_fields(self, client, session, writer, overrides, loc):
        author = await create_author(session)

        response = await client.post("/v1/articles", headers=writer, json=article_input(author, **overrides))

        assert_validation_error(response, loc)

    async def test_refuses_missing_required_fields(self, client, writer):
        response = await client.post("/v1/articles", headers=writer, json={})

        assert_validation_error(response, ["body", "title"], ["body", "body_markdown"], ["body", "author"])

    async def test_writes_nothing_when_refused(self, client, session, writer):
        author = await create_author(session)

        response = await client.post(
            "/v1/articles", headers=writer, json=article_input(author, slug="half", tickers=["NOPE"])
        )

        assert response.status_code == 422
        assert (await client.get("/v1/articles/half", headers=writer)).status_code == 404


class TestUpdateArticle:
    @pytest.mark.parametrize("field", ["title", "dek", "body_markdown", "author", "status", "tickers", "tags"])
    async def test_refuses_null_for_fields_that_cannot_be_empty(self, client, session, clock, writer, field):
        """Issue 11: the spec marks only `published_at`, `hero_image` and `editorial_review` nullable."""
        article = await create_article(session, author=await create_author(session), now=clock.now)

        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={field: None})

        assert_validation_error(response, ["body", field])

    async def test_clears_the_hero_image_with_null(self, client, session, clock, writer):
        article = await create_article(session, author=await create_author(session), now=clock.now)

        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"hero_image": None})

        assert (response.status_code, response.json()["hero_image"]) == (200, None)

    async def test_changes_only_the_fields_sent(self, client, session, clock, writer):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_tag(session, "ai")
        article = await create_article(
            session, author=author, now=clock.now, title="Old title", dek="Old dek",
            body_markdown="About $NVDA.", tags=["ai"],
        )
        before = (await client.get(f"/v1/articles/{article.slug}")).json()
        clock.now += timedelta(minutes=5)

        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"title": "New title"})

        assert response.status_code == 200
        assert response.json() == before | {"title": "New title", "updated_at": iso(clock.now)}

    @pytest.mark.parametrize(
        "patch",
        [{}, {"title": "Same title"}, {"tickers": ["NVDA"], "tags": ["ai"], "body_markdown": "About $AMD."}],
        ids=["empty", "same-title", "same-links-and-body"],
    )
    async def test_repeating_stored_values_leaves_updated_at_and_etag(self, client, session, clock, writer, patch):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        await create_ticker(session, "AMD")
        await create_tag(session, "ai")
        article = await create_article(
            session, author=author, now=clock.now, title="Same title", tickers=["NVDA"],
            body_markdown="About $AMD.", tags=["ai"],
        )
        before = await client.get(f"/v1/articles/{article.slug}")
        clock.now += timedelta(minutes=5)

        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json=patch)

        assert response.status_code == 200
        assert response.json()["updated_at"] == before.json()["updated_at"]
        after = await client.get(f"/v1/articles/{article.slug}")
        assert after.headers["etag"] == before.headers["etag"]

    async def test_relinks_tickers_and_tags(self, client, session, clock, writer):
        author = await create_author(session)
        for symbol in ("NVDA", "AMD", "INTC"):
            await create_ticker(session, symbol)
        await create_tag(session, "ai")
        await create_tag(session, "chips")
        article = await create_article(
            session, author=author, now=clock.now, tickers=["NVDA"], body_markdown="See $AMD.", tags=["ai"]
        )

        response = await client.patch(
            f"/v1/articles/{article.slug}", headers=writer,
            json={"tickers": ["AMD"], "body_markdown": "See $INTC and $NVDA.", "tags": ["chips"]},
        )

        body = response.json()
        assert [(t["symbol"], t["role"]) for t in body["tickers"]] == [
            ("AMD", "primary"), ("INTC", "mentioned"), ("NVDA", "mentioned"),
        ]
        assert body["tags"] == [{"slug": "chips", "name": "Chips"}]
        assert slugs(await client.get("/v1/articles?ticker=INTC")) == [article.slug]
        assert slugs(await client.get("/v1/articles?tag=ai")) == []

    async def test_publishes_a_draft_now(self, client, session, clock, writer):
        author = await create_author(session)
        draft = await create_article(session, author=author, now=clock.now, status="draft", published_ago=None)
        clock.now += timedelta(hours=1)

        response = await client.patch(f"/v1/articles/{draft.slug}", headers=writer, json={"status": "published"})

        assert (response.json()["status"], response.json()["published_at"]) == ("published", iso(clock.now))
        assert slugs(await client.get("/v1/articles")) == [draft.slug]

    async def test_unpublishes_an_article(self, client, session, clock, writer):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now)

        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"status": "archived"})

        assert response.json()["status"] == "archived"
        assert (await client.get(f"/v1/articles/{article.slug}")).status_code == 404

    async def test_reschedules_and_clears_the_hero_image(self, client, session, clock, writer):
        author = await create_author(session)
        article = await create_article(
            session, author=author, now=clock.now, hero_image={"url": "https://img.example/a.png", "alt": "A"}
        )
        later = clock.now + timedelta(days=1)

        response = await client.patch(
            f"/v1/articles/{article.slug}", headers=writer, json={"published_at": iso(later), "hero_image": None}
        )

        assert (response.json()["published_at"], response.json()["hero_image"]) == (iso(later), None)
        assert slugs(await client.get("/v1/articles")) == []
        clock.now = later
        assert slugs(await client.get("/v1/articles")) == [article.slug]

    async def test_refuses_null_for_required_fields(self, client, session, clock, writer):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now)

        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"title": None})

        assert_validation_error(response, ["body", "title"])

    async def test_refuses_review_when_moving_to_a_human_author(self, client, session, clock, writer):
        agent = await create_author(session, kind="ai_agent")
        article = await create_article(session, author=agent, now=clock.now)
        human = await create_author(session)

        ok = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"editorial_review": {"reviewed_by": "Jo"}})
        assert ok.json()["editorial_review"]["reviewed_by"] == "Jo"
        response = await client.patch(f"/v1/articles/{article.slug}", headers=writer, json={"author": human.slug})
        assert_validation_error(response, ["body", "editorial_review"])
        moved = await client.patch(
            f"/v1/articles/{article.slug}", headers=writer,
            json={"author": human.slug, "editorial_review": None},
        )
        assert (moved.json()["ai_generated"], moved.json()["editorial_review"]) == (False, None)

    async def test_is_404_for_unknown_or_deleted(self, client, session, clock, writer):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now)
        await client.delete(f"/v1/articles/{article.slug}", headers=writer)

        for slug in ("missing", article.slug):
            response = await client.patch(f"/v1/articles/{slug}", headers=writer, json={"title": "x"})
            assert_problem(response, problem(404, "not-found", f"No article with slug '{slug}'."))

    async def test_edits_drafts(self, client, session, clock, writer):
        author = await create_author(session)
        draft = await create_article(session, author=author, now=clock.now, status="draft", published_ago=None)

        response = await client.patch(f"/v1/articles/{draft.slug}", headers=writer, json={"dek": "Now with a dek."})

        assert response.json()["dek"] == "Now with a dek."


class TestDeleteArticle:
    async def test_leaves_a_tombstone_and_keeps_the_slug(self, client, session, clock, writer, admin):
        author = await create_author(session)
        article = await create_article(session, author=author, now=clock.now, slug="gone")

        response = await client.delete("/v1/articles/gone", headers=writer)

        assert response.status_code == 204
        assert response.content == b""
        for headers in ({}, writer, admin):
            assert (await client.get("/v1/articles/gone", headers=headers)).status_code == 404
        assert (await client.delete("/v1/articles/gone", headers=writer)).status_code == 404
        assert (await client.post("/v1/articles", headers=writer, json=article_input(author, slug="gone"))).status_code == 409
        await session.refresh(article)
        assert article.deleted_at == clock.now
        assert article.updated_at == clock.now

    async def test_no_longer_counts_for_author_and_ticker(self, client, session, clock, writer):
        author = await create_author(session)
        await create_ticker(session, "NVDA")
        article = await create_article(session, author=author, now=clock.now, tickers=["NVDA"])

        await client.delete(f"/v1/articles/{article.slug}", headers=writer)

        assert (await client.get(f"/v1/authors/{author.slug}")).json()["article_count"] == 0
        assert (await client.get("/v1/tickers/NVDA")).json()["article_count"] == 0


WRITES = [
    ("POST", "/v1/articles", {"title": "t", "body_markdown": "b", "author": "a"}),
    ("PATCH", "/v1/articles/some-article", {"title": "t"}),
    ("DELETE", "/v1/articles/some-article", None),
]


class TestArticleWritesAuthorization:
    @pytest.mark.parametrize(("method", "url", "body"), WRITES)
    async def test_needs_a_key(self, client, method, url, body):
        response = await client.request(method, url, json=body)

        assert_problem(
            response,
            problem(401, "unauthorized", "This operation needs an API key: `Authorization: Bearer <key>`."),
        )
        assert response.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'

    @pytest.mark.parametrize(("method", "url", "body"), WRITES)
    async def test_refuses_the_wrong_scope(self, client, session, method, url, body):
        subscriber = await bearer(session, Scope.SUBSCRIBERS_READ)

        response = await client.request(method, url, json=body, headers=subscriber)

        assert_problem(response, problem(403, "forbidden", "This operation needs the `content:write` scope."))

    @pytest.mark.parametrize(("method", "url", "body"), WRITES)
    @pytest.mark.parametrize("authorization", ["Bearer tfk_not-a-key", "Bearer ", "Basic dXNlcjpwYXNz", "tfk_no_scheme"])
    async def test_refuses_invalid_credentials(self, client, method, url, body, authorization):
        response = await client.request(method, url, json=body, headers={"Authorization": authorization})

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="tickerfeed"'

    async def test_lets_admin_write(self, client, session, admin):
        author = await create_author(session)

        response = await client.post("/v1/articles", headers=admin, json=article_input(author))

        assert response.status_code == 201

