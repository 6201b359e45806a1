"""The feeds as real feed readers see them: parsed by feedparser, which flags any
malformed XML or broken feed structure in `bozo`."""

import html
import json
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as etree

import feedparser
import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.feeds.document import TICKERFEED_NS
from tests import factories
from tests.conftest import API_URL, SITE_URL, Clock
from tests.feeds.conftest import TRICKY_TITLE, Catalogue, plaintext_key

FORMATS = ["rss", "atom", "json"]
pytestmark = pytest.mark.asyncio
TAG_ID = "tag:tickerfeed.dev,2026:article:{}"


def parse(response: httpx.Response) -> feedparser.FeedParserDict:
    assert response.status_code == 200, response.text
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def read_feed(response: httpx.Response) -> tuple[str, list[str]]:
    """Title and item ids of a feed in any format. feedparser reads RSS and Atom only,
    so a JSON Feed is read as JSON."""
    if response.headers["content-type"].startswith("application/feed+json"):
        feed = response.json()
        return feed["title"], [item["id"] for item in feed["items"]]
    parsed = parse(response)
    title = parsed.feed.title
    if parsed.feed.title_detail.type == "text/html":  # RSS titles are HTML-escaped text
        title = html.unescape(title)
    return title, [entry.id for entry in parsed.entries]


def xml_text(xml: bytes, path: str) -> list[str]:
    namespaces = {
        "content": "http://purl.org/rss/1.0/modules/content/",
        "atom": "http://www.w3.org/2005/Atom",
    }
    return [element.text for element in etree.fromstring(xml).iterfind(path, namespaces)]


def tf_tickers(xml: bytes) -> list[dict[str, str]]:
    root = etree.fromstring(xml)
    return [dict(element.attrib) for element in root.iter(f"{{{TICKERFEED_NS}}}ticker")]


class TestRss:
    async def test_parses_cleanly_with_every_item_field(
        self, client: httpx.AsyncClient, catalogue: Catalogue
    ) -> None:
        response = await client.get("/feeds/articles.rss")
        assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
        feed = parse(response)
        assert feed.version == "rss20"
        assert feed.feed.title == "tickerfeed: latest headlines"
        assert feed.feed.link == SITE_URL
        assert feed.feed.language == "en"
        assert feed.feed.updated_parsed is not None
        assert any(
            link.rel == "self" and link.href == f"{API_URL}/feeds/articles.rss"
            for link in feed.feed.links
        )

        agent_item, human_item = feed.entries
        # RSS titles and descriptions are HTML: plain text arrives escaped and reads back intact.
        assert html.unescape(human_item.title) == TRICKY_TITLE
        assert human_item.link == f"{SITE_URL}/articles/{catalogue.by_human.slug}"
        assert human_item.id == TAG_ID.format(catalogue.by_human.id)
        assert human_item.guidislink is False
        assert html.unescape(human_item.summary) == 'Margins & <guidance> "beat"; 利润 up.'
        assert human_item.author == "Priya Raman"
        assert human_item.published_parsed is not None and human_item.updated_parsed is not None
        assert [(tag.term, tag.scheme) for tag in human_item.tags] == [
            ("NVDA", f"{SITE_URL}/tickers"),
            ("Chips & AI", f"{SITE_URL}/tags"),
        ]
        assert human_item.media_content[0]["url"] == "https://img.example/hero.jpg"
        assert (
            xml_text(response.content, ".//content:encoded") == []
        )  # summaries only without a key

        assert agent_item.author == "ChipWatch (AI agent)"
        assert "ai-generated" in [tag.term for tag in agent_item.tags]

    async def test_tickers_as_namespaced_elements(
        self, client: httpx.AsyncClient, catalogue: Catalogue
    ) -> None:
        response = await client.get("/feeds/articles.rss")
        assert tf_tickers(response.content) == [
            {"symbol": "NVDA", "role": "mentioned", "assetClass": "equity", "exchange": "NASDAQ"},
            {"symbol": "NVDA", "role": "primary", "assetClass": "equity", "exchange": "NASDAQ"},
        ]


class TestAtom:
    async def test_parses_cleanly_with_every_entry_field(
        self, client: httpx.AsyncClient, catalogue: Catalogue
    ) -> None:
        response = await client.get("/feeds/articles.atom")
        assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
        feed = parse(response)
        assert feed.version == "atom10"
        assert feed.feed.id == "tag:tickerfeed.dev,2026:feed:articles"
        assert feed.feed.language == "en"
        rels = {link.rel: link.href for link in feed.feed.links}
        assert rels == {"alternate": SITE_URL, "self": f"{API_URL}/feeds/articles.atom"}

        agent_entry, human_entry = feed.entries
        assert human_entry.id == TAG_ID.format(catalogue.by_human.id)
        assert human_entry.title == TRICKY_TITLE
        assert human_entry.summary == 'Margins & <guidance> "beat"; 利润 up.'
        assert human_entry.author_detail.name == "Priya Raman"
        assert human_entry.published_parsed and human_entry.updated_parsed
        assert [(tag.term, tag.scheme, tag.label) for tag in human_entry.tags] == [
            ("NVDA", f"{SITE_URL}/tickers", "NVIDIA Corporation"),
            ("chips", f"{SITE_URL}/tags", "Chips & AI"),
        ]
        enclosures = [link for link in human_entry.links if link.rel == "enclosure"]
        assert [(link.href, link.type) for link in enclosures] == [
            ("https://img.example/hero.jpg", "image/jpeg")
        ]
        assert xml_text(response.content, ".//atom:content") == []
        assert agent_entry.author_detail.name == "ChipWatch (AI agent)"
        assert "ai-generated" in [tag.term for tag in agent_entry.tags]
        assert {ticker["symbol"] for ticker in tf_tickers(response.content)} == {"NVDA"}


class TestJsonFeed:
    async def test_has_the_required_fields(
        self, client: httpx.AsyncClient, catalogue: Catalogue
    ) -> None:
        response = await client.get("/feeds/articles.json")
        assert response.headers["content-type"] == "application/feed+json"
        feed = response.json()
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        assert feed["title"] and feed["home_page_url"] == SITE_URL
        assert feed["feed_url"] == f"{API_URL}/feeds/articles.json"
        for item in feed["items"]:
            assert isinstance(item["id"], str) and item["id"]
            assert ("content_html" in item) or ("content_text" in item)
        agent_item, human_item = feed["items"]
        assert human_item == {
            "id": TAG_ID.format(catalogue.by_human.id),
            "url": f"{SITE_URL}/articles/{catalogue.by_human.slug}",
            "title": TRICKY_TITLE,
            "summary": 'Margins & <guidance> "beat"; 利润 up.',
            "content_text": 'Margins & <guidance> "beat"; 利润 up.',
            "image": "https://img.example/hero.jpg",
            "date_published": human_item["date_published"],
            "date_modified": human_item["date_modified"],
            "authors": [
                {"name": "Priya Raman", "url": f"{SITE_URL}/authors/{catalogue.human.slug}"}
            ],
            "tags": ["NVDA", "Chips & AI"],
            "_tickerfeed": {
                "about": TICKERFEED_NS,
                "ai_generated": False,
                "tickers": [
                    {
                        "symbol": "NVDA",
                        "name": "NVIDIA Corporation",
                        "exchange": "NASDAQ",
                        "asset_class": "equity",
                        "role": "primary",
                    }
                ],
            },
        }
        assert agent_item["authors"][0]["name"] == "ChipWatch (AI agent)"
        assert agent_item["_tickerfeed"]["ai_generated"] is True
        assert "ai-generated" in agent_item["tags"]

    async def test_a_ticker_without_an_exchange_says_null(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock
    ) -> None:
        # Found by schemathesis (issue 11): `exchange` is required in the spec, and the feed
        # left it out for a ticker without one.
        await factories.create_ticker(session, "BTC", name="Bitcoin", asset_class="crypto")
        author = await factories.create_author(session)
        await factories.create_article(session, author=author, now=clock.now, tickers=["BTC"])

        item = (await client.get("/feeds/tickers/BTC.json")).json()["items"][0]

        assert item["_tickerfeed"]["tickers"] == [
            {"symbol": "BTC", "name": "Bitcoin", "exchange": None, "asset_class": "crypto", "role": "primary"}
        ]


class TestItems:
    async def test_newest_fifty_published_only(
        self, client: httpx.AsyncClient, session: AsyncSession, clock: Clock
    ) -> None:
        author = await factories.create_author(session)
        for minutes in range(1, 53):
            await factories.create_article(
                session, author=author, now=clock.now, published_ago=timedelta(minutes=minutes)
            )
        draft = await factories.create_article(
            session, author=author, now=clock.now, status="draft", published_ago=None
        )
        scheduled = await factories.create_article(
            session, author=author, now=clock.now, published_ago=timedelta(hours=-1)
        )
        feed = (await client.get("/feeds/articles.json")).json()
        ids = [item["id"] for item in feed["items"]]
        assert len(ids) == 50
        assert TAG_ID.format(draft.id) not in ids and TAG_ID.format(scheduled.id) not in ids
        published = [item["date_published"] for item in feed["items"]]
        assert published == sorted(published, reverse=True)

    async def test_guid_survives_an_edit(
        self, client: httpx.AsyncClient, catalogue: Catalogue, writer: dict[str, str]
    ) -> None:
        before = parse(await client.get("/feeds/articles.atom")).entries[1]
        edited = await client.patch(
            f"/v1/articles/{catalogue.by_human.slug}",
            json={"title": "Retitled & revised"},
            headers=writer,
        )
        assert edited.status_code == 200, edited.text
        after = parse(await client.get("/feeds/articles.atom")).entries[1]
        assert after.title == "Retitled & revised"
        assert after.id == before.id == TAG_ID.format(catalogue.by_human.id)
        assert after.link == before.link


class TestSubjects:
    @pytest.mark.parametrize("fmt", FORMATS)
    async def test_ticker_feed_by_alias_any_case(
        self,
        client: httpx.AsyncClient,
        catalogue: Catalogue,
        session: AsyncSession,
        clock: Clock,
        fmt: str,
    ) -> None:
        other = await factories.create_author(session)
        await factories.create_article(session, author=other, now=clock.now, title="Unrelated")
        title, ids = read_feed(await client.get(f"/feeds/tickers/nvda.mx.{fmt}"))
        assert title == "tickerfeed: NVDA (NVIDIA Corporation)"
        # Both articles name NVDA (one as primary, one by cashtag); the unrelated one is absent.
        assert ids == [TAG_ID.format(catalogue.by_agent.id), TAG_ID.format(catalogue.by_human.id)]

    @pytest.mark.parametrize("fmt", FORMATS)
    async def test_author_feed(
        self, client: httpx.AsyncClient, catalogue: Catalogue, fmt: str
    ) -> None:
        title, ids = read_feed(await client.get(f"/feeds/authors/{catalogue.agent.slug}.{fmt}"))
        assert title == "tickerfeed: ChipWatch (AI agent)"
        assert ids == [TAG_ID.format(catalogue.by_agent.id)]

    @pytest.mark.parametrize("fmt", FORMATS)
    async def test_tag_feed(
        self, client: httpx.AsyncClient, catalogue: Catalogue, fmt: str
    ) -> None:
        title, ids = read_feed(await client.get(f"/feeds/tags/chips.{fmt}"))
        assert title == "tickerfeed: Chips & AI"
        assert ids == [TAG_ID.format(catalogue.by_human.id)]

    @pytest.mark.parametrize(
        "path",
        ["/feeds/tickers/ZZZZ.rss", "/feeds/authors/nobody.atom", "/feeds/tags/nothing.json"],
    )
    async def test_unknown_subject_is_a_404_problem(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "/problems/not-found"
        assert "etag" not in response.headers

    async def test_unknown_format_is_a_problem_not_a_500(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/feeds/articles.xml")
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_empty_feed_is_still_valid(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await factories.create_tag(session, "quiet")
        for fmt in FORMATS:
            assert read_feed(await client.get(f"/feeds/tags/quiet.{fmt}"))[1] == []


class TestPartnerAccess:
    async def test_full_text_with_a_feeds_key(
        self, client: httpx.AsyncClient, session: AsyncSession, catalogue: Catalogue
    ) -> None:
        key = await plaintext_key(session, Scope.FEEDS_FULL)
        body = catalogue.by_human.body_html
        rss = await client.get("/feeds/articles.rss", params={"key": key})
        assert "<strong>analysis</strong>" in parse(rss).entries[1].content[0].value
        assert xml_text(rss.content, ".//item/content:encoded")[1] == body
        atom = await client.get("/feeds/articles.atom", params={"key": key})
        assert "<strong>analysis</strong>" in parse(atom).entries[1].content[0].value
        assert xml_text(atom.content, ".//atom:entry/atom:content")[1] == body
        json_feed = (await client.get("/feeds/articles.json", params={"key": key})).json()
        assert json_feed["items"][1]["content_html"] == body
        assert "content_text" not in json_feed["items"][1]
        # Licensed full text stays out of shared caches, and the key never leaks into links.
        assert rss.headers["cache-control"] == "private, no-store"
        assert key not in rss.text and key not in json.dumps(json_feed)

    async def test_full_text_with_a_bearer_key(
        self, client: httpx.AsyncClient, session: AsyncSession, catalogue: Catalogue
    ) -> None:
        key = await plaintext_key(session, Scope.FEEDS_FULL)
        feed = (
            await client.get("/feeds/articles.json", headers={"Authorization": f"Bearer {key}"})
        ).json()
        assert feed["items"][1]["content_html"] == catalogue.by_human.body_html

    @pytest.mark.parametrize("key", ["tfk_not-a-real-key", "nonsense", "x" * 128])
    async def test_bad_key_is_a_401(
        self, client: httpx.AsyncClient, catalogue: Catalogue, key: str
    ) -> None:
        response = await client.get("/feeds/articles.rss", params={"key": key})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_key_without_the_scope_is_a_403(
        self, client: httpx.AsyncClient, session: AsyncSession, catalogue: Catalogue
    ) -> None:
        key = await plaintext_key(session, Scope.CONTENT_WRITE)
        response = await client.get("/feeds/articles.rss", params={"key": key})
        assert response.status_code == 403

    @pytest.mark.parametrize(
        "scopes",
        [(Scope.ADMIN,), (Scope.FEEDS_FULL, Scope.CONTENT_WRITE), (Scope.FEEDS_FULL, Scope.ADMIN)],
    )
    async def test_a_key_that_grants_more_than_feeds_is_refused_in_the_url(
        self, client: httpx.AsyncClient, session: AsyncSession, catalogue: Catalogue, scopes: Any
    ) -> None:
        """Issue 10, item 5: URLs reach access logs, proxies and browser history, so only a
        key that can do nothing but read feeds may travel in one."""
        key = await plaintext_key(session, *scopes)

        in_url = await client.get("/feeds/articles.rss", params={"key": key})
        in_header = await client.get(
            "/feeds/articles.json", headers={"Authorization": f"Bearer {key}"}
        )

        assert in_url.status_code == 403
        assert in_url.headers["content-type"] == "application/problem+json"
        assert "Authorization" in in_url.json()["detail"]
        assert in_header.status_code == 200
        assert in_header.json()["items"][1]["content_html"] == catalogue.by_human.body_html

    async def test_bad_key_wins_over_a_matching_etag(
        self, client: httpx.AsyncClient, catalogue: Catalogue
    ) -> None:
        etag = (await client.get("/feeds/articles.rss")).headers["etag"]
        response = await client.get(
            "/feeds/articles.rss", params={"key": "tfk_wrong"}, headers={"If-None-Match": etag}
        )
        assert response.status_code == 401
