"""Abuse: XSS payloads, size and character limits, rate limits (in memory on SQLite runs,
in Redis on PostgreSQL runs), and the spam check."""

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from app.api_keys.scopes import Scope
from app.models import Article
from tests.comments.helpers import approved, post, posted
from tests.conftest import bearer
from tests.factories import create_article, create_author
from tests.mail_fixtures import SmtpServer, redis_url
from tests.reader_fixtures import client_with, named_reader
from tests.test_sanitization import DANGEROUS_SCHEME, INVISIBLE, MarkupCollector

pytestmark = pytest.mark.asyncio
VECTORS = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "data" / "owasp_xss_filter_evasion.jsonl").read_text().splitlines()
]
# A URL's scheme as browsers read it (WHATWG URL: a letter, then letters, digits, + - .);
# anything else before the first colon makes it a relative URL.
SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
COMMENT_TAGS = {"p", "ul", "ol", "li", "a", "strong", "em", "del", "s", "code", "pre", "blockquote", "br"}


@pytest_asyncio.fixture
async def article(session: AsyncSession, clock: Any) -> Article:
    return await create_article(session, author=await create_author(session), now=clock.now)


@pytest_asyncio.fixture
async def ada(client: httpx.AsyncClient, smtp: SmtpServer) -> dict[str, str]:
    return await named_reader(client, smtp, "Ada", "ada@example.com")


def harmless(html: str) -> list[str]:
    """What would run in a browser: scripts, handlers, script URLs, any tag but the few allowed."""
    problems = []
    if re.search(r"<\s*/?\s*(script|iframe|svg|style|object|embed|meta|base|link|img)\b", html, re.I):
        problems.append("dangerous tag")
    collector = MarkupCollector()
    collector.feed(html)
    collector.close()
    for tag, attrs in collector.tags:
        if tag not in COMMENT_TAGS:
            problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.lower().startswith("on") or name.lower() in {"style", "src", "srcdoc", "formaction"}:
                problems.append(f"attribute {name}")
            if name.lower() == "href":
                url = INVISIBLE.sub("", value or "")
                scheme = SCHEME.match(url)
                if DANGEROUS_SCHEME.match(url) or (scheme and scheme[1].lower() not in {"http", "https", "mailto"}):
                    problems.append(f"href {value}")
            if tag == "a" and name == "rel" and value != "nofollow ugc":
                problems.append(f"rel {value}")
    return problems


class TestXss:
    async def test_the_list_is_the_whole_cheat_sheet(self) -> None:
        assert len(VECTORS) == 90

    async def test_every_owasp_filter_evasion_vector_comes_out_harmless(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str]
    ) -> None:
        failures: dict[str, list[str]] = {}
        refused = 0
        for vector in VECTORS:
            for body in (vector, f"[click]({vector})", f"Before {vector} after"):
                response = await post(client, article.slug, ada, body)
                if response.status_code == 422 and "\x00" in vector:
                    refused += 1  # control characters never reach the renderer
                    continue
                assert response.status_code == 201, (vector, response.text)
                if problems := harmless(response.json()["body_html"]):
                    failures[body] = problems
        assert failures == {}
        assert refused == 3

    async def test_links_are_nofollow_ugc_and_images_are_links(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str]
    ) -> None:
        comment = await posted(client, article.slug, ada, "See [this](https://example.com) ![chart](https://img.example/c.png)")
        assert comment["body_html"] == (
            '<p>See <a href="https://example.com" rel="nofollow ugc">this</a> '
            '!<a href="https://img.example/c.png" rel="nofollow ugc">chart</a></p>\n'
        )


class TestLimits:
    async def test_takes_5000_characters_and_no_more(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str]
    ) -> None:
        assert (await post(client, article.slug, ada, "é" * 5000)).status_code == 201
        too_long = await post(client, article.slug, ada, "é" * 5001)
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["loc"] == ["body", "body_markdown"]

    @pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f", "\x0b"])
    async def test_refuses_control_characters(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], character: str
    ) -> None:
        response = await post(client, article.slug, ada, f"Hello{character}world")
        assert response.status_code == 422

    async def test_keeps_line_breaks_and_tabs(self, client: httpx.AsyncClient, article: Article, ada: dict[str, str]) -> None:
        assert (await post(client, article.slug, ada, "One\r\n\n\tTwo")).status_code == 201

    async def test_refuses_an_empty_body_and_unknown_members(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str]
    ) -> None:
        assert (await post(client, article.slug, ada, "")).status_code == 422
        assert (await post(client, article.slug, ada, "Hi", status="approved")).status_code == 422


def limited(app: Any, settings: Any, smtp: SmtpServer, prefix: str, **limits: str) -> httpx.AsyncClient:
    return client_with(app, settings, smtp, redis_url=redis_url(), rate_limit_prefix=prefix, **limits)


class TestRateLimits:
    async def test_limits_each_reader(
        self, app: Any, settings: Any, smtp: SmtpServer, limiter_prefix: str, client: httpx.AsyncClient,
        article: Article, ada: dict[str, str],
    ) -> None:
        bob = await named_reader(client, smtp, "Bob")
        async with limited(app, settings, smtp, limiter_prefix, rate_limit_comment_per_reader="2/minute") as capped:
            codes = [(await post(capped, article.slug, ada, f"Comment {n}")).status_code for n in range(3)]
            refused = await post(capped, article.slug, ada, "One more")
            other = await post(capped, article.slug, bob, "Bob's turn")
        assert codes == [201, 201, 429]
        assert int(refused.headers["retry-after"]) >= 1 and other.status_code == 201

    async def test_limits_each_client(
        self, app: Any, settings: Any, smtp: SmtpServer, limiter_prefix: str, client: httpx.AsyncClient,
        article: Article, ada: dict[str, str],
    ) -> None:
        bob = await named_reader(client, smtp, "Bob")
        async with limited(app, settings, smtp, limiter_prefix, rate_limit_comment_per_client="3/minute") as capped:
            codes = [(await post(capped, article.slug, reader, f"Comment {n}")).status_code for n, reader in enumerate([ada, bob, ada, bob])]
        assert codes == [201, 201, 201, 429]


class TestSpamCheck:
    async def test_holds_many_links_even_from_a_trusted_reader(
        self, client: httpx.AsyncClient, session: AsyncSession, article: Article, ada: dict[str, str]
    ) -> None:
        moderator = await bearer(session, Scope.COMMENTS_MODERATE)
        for n in range(3):
            await approved(client, article.slug, ada, moderator, f"Honest comment {n}")
        links = " ".join(f"[{n}](https://shop.example/{n})" for n in range(3))

        assert (await posted(client, article.slug, ada, "Two [a](https://a.example) [b](https://b.example)"))["status"] == "approved"
        held = await posted(client, article.slug, ada, f"Buy now {links}")
        assert held["status"] == "pending"
        queue = (await client.get("/v1/comments", headers=moderator)).json()["items"]
        assert [(item["id"], item["held_for"]) for item in queue] == [(held["id"], "links")]

    async def test_marks_repeated_text_as_spam(
        self, client: httpx.AsyncClient, smtp: SmtpServer, article: Article, ada: dict[str, str], clock: Any
    ) -> None:
        text = "Visit my profile for the best trading signals!!"
        assert (await posted(client, article.slug, ada, text))["status"] == "pending"
        clock.now += timedelta(minutes=11)
        again = await posted(client, article.slug, ada, "visit my PROFILE, for the best trading signals")
        assert again["status"] == "spam"
        bob, cyd, dan = [await named_reader(client, smtp, name) for name in ("Bob", "Cyd", "Dan")]
        assert (await posted(client, article.slug, bob, text))["status"] == "pending"
        assert (await posted(client, article.slug, cyd, text))["status"] == "spam"  # a third reader: a campaign
        assert (await posted(client, article.slug, dan, "Great piece!"))["status"] == "pending"
        assert (await posted(client, article.slug, bob, "Great piece!"))["status"] == "pending"  # too short to count

    async def test_marks_a_new_accounts_burst_as_spam(
        self, client: httpx.AsyncClient, article: Article, ada: dict[str, str], clock: Any
    ) -> None:
        statuses = []
        for n in range(4):
            statuses.append((await posted(client, article.slug, ada, f"Thought number {n}"))["status"])
        assert statuses == ["pending", "pending", "pending", "spam"]
        clock.now += timedelta(days=1, minutes=1)
        assert (await posted(client, article.slug, ada, "A day later"))["status"] == "pending"
