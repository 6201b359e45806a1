"""RSS 2.0 (https://www.rssboard.org/rss-specification) with the usual modules:
content:encoded for full text, dc:creator for names (RSS `author` must be an e-mail),
media:content for the hero image (an `enclosure` needs a byte length we do not know)."""

from email.utils import format_datetime

from lxml import etree

from app.feeds.document import AI_CATEGORY, TICKERFEED_NS, FeedDocument, FeedItem
from app.feeds.xml import (
    ATOM_NS,
    CONTENT_NS,
    DC_NS,
    DCTERMS_NS,
    MEDIA_NS,
    add_tickers,
    child,
    html_text,
    image_type,
    rfc3339,
    serialize,
)

MEDIA_TYPE = "application/rss+xml; charset=utf-8"
NAMESPACES = {
    "atom": ATOM_NS,
    "content": CONTENT_NS,
    "dc": DC_NS,
    "dcterms": DCTERMS_NS,
    "media": MEDIA_NS,
    "tf": TICKERFEED_NS,
}


def _item(channel: etree._Element, item: FeedItem, site_url: str) -> None:
    element = child(channel, "item")
    # Readers render RSS `title` and `description` as HTML: `<` in a headline stays text.
    child(element, "title", html_text(item.title))
    child(element, "link", item.url)
    child(element, "guid", item.id, isPermaLink="false")
    child(element, "description", html_text(item.summary))
    if item.content_html is not None:
        child(element, f"{{{CONTENT_NS}}}encoded", item.content_html)
    child(element, f"{{{DC_NS}}}creator", item.author_name)
    child(element, "pubDate", format_datetime(item.published.replace(microsecond=0), usegmt=True))
    child(element, f"{{{DCTERMS_NS}}}modified", rfc3339(item.updated))
    for ticker in item.tickers:
        child(element, "category", ticker.symbol, domain=f"{site_url}/tickers")
    for tag in item.tags:
        child(element, "category", tag.name, domain=f"{site_url}/tags")
    if item.ai_generated:
        child(element, "category", AI_CATEGORY)
    if item.image is not None:
        attributes = {"url": item.image.url, "medium": "image"}
        if kind := image_type(item.image.url):
            attributes["type"] = kind
        media = child(element, f"{{{MEDIA_NS}}}content", **attributes)
        if item.image.alt:
            child(media, f"{{{MEDIA_NS}}}description", item.image.alt, type="plain")
        if item.image.credit:
            child(media, f"{{{MEDIA_NS}}}credit", item.image.credit)
    add_tickers(element, item)


def render_rss(document: FeedDocument) -> bytes:
    root = etree.Element("rss", {"version": "2.0"}, nsmap=NAMESPACES)  # type: ignore[arg-type]
    channel = child(root, "channel")
    child(channel, "title", html_text(document.title))
    child(channel, "link", document.home_url)
    child(channel, "description", html_text(document.description))
    child(channel, "language", document.language)
    child(
        channel,
        "lastBuildDate",
        format_datetime(document.updated.replace(microsecond=0), usegmt=True),
    )
    child(channel, "generator", "tickerfeed")
    child(
        channel,
        f"{{{ATOM_NS}}}link",
        href=document.self_url,
        rel="self",
        type="application/rss+xml",
    )
    for item in document.items:
        _item(channel, item, document.site_url)
    return serialize(root)
