"""Issue 10, item 11: markup in a title is text in every feed format, as the description
already was.

RSS 2.0 does not say whether `title` is text or HTML, and readers differ: many render it
as HTML, as they do `description`. A title sent as bare text ran `<script>` in those; it
is now HTML-escaped like the description, so a reader that renders it shows the text.
Atom says `type="text"` and JSON Feed titles are plain text by the spec: both carry the
text as it is.
"""

from html.parser import HTMLParser

import feedparser
import httpx
import pytest
import pytest_asyncio
from sqlmodel.ext.asyncio.session import AsyncSession

from tests import factories
from tests.conftest import Clock

pytestmark = pytest.mark.asyncio
HOSTILE = "<script>alert(1)</script> & ]]> <img src=x onerror=alert(1)>"  # a tag name fits


class Rendered(HTMLParser):
    """What a browser shows for a piece of HTML: its text, and which elements it would make."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text, self.tags = "", []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def assert_text_when_rendered_as_html(value: str) -> None:
    rendered = Rendered(value)
    assert rendered.tags == [], value
    assert rendered.text == HOSTILE


def parse(response: httpx.Response) -> feedparser.FeedParserDict:
    assert response.status_code == 200, response.text
    assert b"]]>" not in response.content  # nothing could end a CDATA section early
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


@pytest_asyncio.fixture
async def hostile(session: AsyncSession, clock: Clock) -> None:
    author = await factories.create_author(session)
    await factories.create_tag(session, "hostile", name=HOSTILE)
    await factories.create_article(
        session, author=author, now=clock.now, title=HOSTILE, dek=HOSTILE, tags=["hostile"]
    )


@pytest.mark.usefixtures("hostile")
class TestMarkupInTitles:
    @pytest.mark.parametrize("url", ["/feeds/articles.rss", "/feeds/tags/hostile.rss"])
    async def test_rss_titles_render_as_text_like_the_description(
        self, client: httpx.AsyncClient, url: str
    ) -> None:
        feed = parse(await client.get(url))
        (entry,) = feed.entries

        # Rendered as HTML, as readers do with RSS text: the text, and no element at all.
        for value in (entry.title, entry.summary):
            assert_text_when_rendered_as_html(value)
        # feedparser (a reader) agrees that title and description are HTML to render.
        assert entry.title_detail.type == entry.summary_detail.type == "text/html"
        if url.startswith("/feeds/tags/"):
            assert feed.feed.title_detail.type == "text/html"
            assert Rendered(feed.feed.title).tags == []
            assert Rendered(feed.feed.title).text.endswith(HOSTILE)

    @pytest.mark.parametrize("url", ["/feeds/articles.atom", "/feeds/tags/hostile.atom"])
    async def test_atom_titles_are_declared_text(self, client: httpx.AsyncClient, url: str) -> None:
        feed = parse(await client.get(url))
        (entry,) = feed.entries

        assert entry.title_detail.type == entry.summary_detail.type == "text/plain"
        assert entry.title == entry.summary == HOSTILE
        if url.startswith("/feeds/tags/"):
            assert feed.feed.title_detail.type == "text/plain"
            assert feed.feed.title.endswith(HOSTILE)

    @pytest.mark.parametrize("url", ["/feeds/articles.json", "/feeds/tags/hostile.json"])
    async def test_json_feed_titles_are_plain_text(self, client: httpx.AsyncClient, url: str) -> None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        feed = response.json()
        (item,) = feed["items"]

        # JSON Feed 1.1: `title` and `summary` are plain text; only `content_html` is HTML.
        assert item["title"] == item["summary"] == HOSTILE
        assert "content_html" not in item
        if url.startswith("/feeds/tags/"):
            assert feed["title"].endswith(HOSTILE)
