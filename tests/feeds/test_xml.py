"""The RSS and Atom templates (`app/feeds/xml.py`): whatever text goes in, the feed is
well-formed XML and a parser reads back exactly that text, less the characters XML 1.0
cannot carry."""

import html
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest

from app.feeds import atom, rss
from app.feeds.document import TICKERFEED_NS, FeedDocument, FeedSubject, build_document
from app.feeds.xml import NOT_XML_CHAR

SITE_URL = "https://site.example"
# XML's own markup, quotes, every kind of line end and space, characters XML 1.0 forbids
# (NUL, C0 controls, lone surrogates, U+FFFE), and characters beyond the BMP.
HOSTILE = [
    "<b>bold</b> & ]]> 'single' \"double\"",
    "line\r\nends\rand\ttabs\n",
    "nul\x00 bell\x07 escape\x1b del\x7f next\x85 sep\u2028",
    "lone \ud800 surrogate, not a character \ufffe",
    "&amp; already escaped &lt;",
    "Ünïcödé €  😀 نص",
    "",
]
RSS = {"content": "http://purl.org/rss/1.0/modules/content/", "dc": "http://purl.org/dc/elements/1.1/", "media": "http://search.yahoo.com/mrss/"}
ATOM = {"atom": "http://www.w3.org/2005/Atom"}


def readable(value: str) -> str:
    return NOT_XML_CHAR.sub("", value)


def document(value: str) -> FeedDocument:
    moment = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    card = {
        "id": 7, "slug": "a-slug", "title": value, "dek": value, "body_html": value,
        "published_at": moment, "updated_at": moment, "reading_time_minutes": 1,
        "hero_image": {"url": f"https://img.example/{value}.png", "alt": value, "credit": value},
        "author": {"id": 1, "slug": "a", "name": value, "kind": "human", "avatar_url": None},
        "tickers": [{"symbol": "NVDA", "name": value, "exchange": value, "asset_class": "equity", "role": "primary"}],
        "tags": [{"slug": "t", "name": value}], "ai_generated": False, "comment_count": 0, "comments_open": True,
    }
    subject = FeedSubject(key="articles", title=value, description=value, home_url=SITE_URL)
    return build_document(subject, [card], site_url=SITE_URL, self_url=f"{SITE_URL}/feeds?{value}", full=True)


@pytest.mark.parametrize("value", HOSTILE)
def test_rss_reads_back_what_went_in(value: str) -> None:
    root = ElementTree.fromstring(rss.render_rss(document(value)))
    expected = readable(value)
    item = root.find("channel/item")
    assert item is not None
    # Title and description are HTML-escaped text (readers render them as HTML).
    assert item.findtext("title") == html.escape(expected, quote=False)
    assert item.findtext("description") == html.escape(expected, quote=False)
    assert item.findtext("content:encoded", namespaces=RSS) == expected
    assert item.findtext("dc:creator", namespaces=RSS) == expected
    assert item.findtext("media:content/media:credit", namespaces=RSS) == (expected or None)
    assert [category.text or "" for category in item.iterfind("category")] == ["NVDA", expected]
    ticker = item.find(f"{{{TICKERFEED_NS}}}ticker")
    assert ticker is not None and (ticker.text or "") == expected
    if expected:
        assert ticker.get("exchange") == expected
    assert root.find("channel/{http://www.w3.org/2005/Atom}link").get("href") == readable(f"{SITE_URL}/feeds?{value}")  # type: ignore[union-attr]


@pytest.mark.parametrize("value", HOSTILE)
def test_atom_reads_back_what_went_in(value: str) -> None:
    root = ElementTree.fromstring(atom.render_atom(document(value)))
    expected = readable(value)
    entry = root.find("atom:entry", ATOM)
    assert entry is not None
    for path in ("atom:title", "atom:summary", "atom:content", "atom:author/atom:name"):
        assert (entry.findtext(path, namespaces=ATOM) or "") == expected, path
    labels = [category.get("label") for category in entry.iterfind("atom:category", ATOM)]
    assert labels == [expected, expected]
    enclosure = entry.find("atom:link[@rel='enclosure']", ATOM)
    assert enclosure is not None and enclosure.get("href") == readable(f"https://img.example/{value}.png")
    assert enclosure.get("title") == (expected or None)
    assert (root.findtext("atom:title", namespaces=ATOM) or "") == expected
