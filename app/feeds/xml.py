"""What the RSS and Atom renderers share: namespaces, safe text and the ticker elements.

lxml escapes `&`, `<` and quotes itself; what it refuses are characters XML 1.0 cannot
carry at all (most C0 controls), so text is cleaned of those before it goes in.
"""

import html
import mimetypes
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lxml import etree

from app.feeds.document import TICKERFEED_NS, FeedItem

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# Everything outside the XML 1.0 `Char` production (https://www.w3.org/TR/xml/#charsets).
NOT_XML_CHAR = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    # Printable ASCII is all XML characters: most text skips the expression.
    if text.isascii() and text.isprintable():
        return text
    return NOT_XML_CHAR.sub("", text)


def html_text(text: str) -> str:
    """Plain text for an element that readers render as HTML, escaped once more than XML
    needs so that markup in it shows as text. RSS 2.0 never says which of its elements
    are HTML; readers render `description` and, often, `title` as HTML, so both take
    this. (Atom says `type="text"`, and JSON Feed titles and summaries are text.)"""
    return html.escape(text, quote=False)


def child(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, tag, {name: clean(value) for name, value in attributes.items()} if attributes else None)
    if text is not None:
        element.text = clean(text)
    return element


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def image_type(url: str) -> str | None:
    return mimetypes.guess_type(urlsplit(url).path)[0]


def add_tickers(parent: etree._Element, item: FeedItem) -> None:
    """`<tf:ticker symbol="NVDA" exchange="NASDAQ" role="primary" .../>` per ticker."""
    for ticker in item.tickers:
        attributes = {
            "symbol": ticker.symbol,
            "role": ticker.role,
            "assetClass": ticker.asset_class,
        }
        if ticker.exchange:
            attributes["exchange"] = ticker.exchange
        child(parent, f"{{{TICKERFEED_NS}}}ticker", ticker.name, **attributes)


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
