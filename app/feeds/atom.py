"""Atom 1.0 (RFC 4287), with the hero image as `link rel="enclosure"`."""

from lxml import etree

from app.feeds.document import AI_CATEGORY, TICKERFEED_NS, FeedDocument, FeedItem
from app.feeds.xml import ATOM_NS, XML_NS, add_tickers, child, image_type, rfc3339, serialize

MEDIA_TYPE = "application/atom+xml; charset=utf-8"
NAMESPACES = {None: ATOM_NS, "tf": TICKERFEED_NS}


def _a(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _entry(feed: etree._Element, item: FeedItem, site_url: str) -> None:
    entry = child(feed, _a("entry"))
    child(entry, _a("id"), item.id)
    child(entry, _a("title"), item.title, type="text")
    child(entry, _a("link"), rel="alternate", type="text/html", href=item.url)
    child(entry, _a("published"), rfc3339(item.published))
    child(entry, _a("updated"), rfc3339(item.updated))
    author = child(entry, _a("author"))
    child(author, _a("name"), item.author_name)
    child(author, _a("uri"), item.author_url)
    child(entry, _a("summary"), item.summary, type="text")
    if item.content_html is not None:
        child(entry, _a("content"), item.content_html, type="html")
    for ticker in item.tickers:
        child(
            entry,
            _a("category"),
            term=ticker.symbol,
            scheme=f"{site_url}/tickers",
            label=ticker.name,
        )
    for tag in item.tags:
        child(entry, _a("category"), term=tag.slug, scheme=f"{site_url}/tags", label=tag.name)
    if item.ai_generated:
        child(entry, _a("category"), term=AI_CATEGORY, label="AI-generated")
    if item.image is not None:
        attributes = {"rel": "enclosure", "href": item.image.url}
        if kind := image_type(item.image.url):
            attributes["type"] = kind
        if item.image.alt:
            attributes["title"] = item.image.alt
        child(entry, _a("link"), **attributes)
    add_tickers(entry, item)


def render_atom(document: FeedDocument) -> bytes:
    feed = etree.Element(_a("feed"), nsmap=NAMESPACES)  # type: ignore[arg-type]
    feed.set(f"{{{XML_NS}}}lang", document.language)
    child(feed, _a("id"), document.id)
    child(feed, _a("title"), document.title, type="text")
    child(feed, _a("subtitle"), document.description, type="text")
    child(feed, _a("updated"), rfc3339(document.updated))
    child(feed, _a("link"), rel="alternate", type="text/html", href=document.home_url)
    child(feed, _a("link"), rel="self", type="application/atom+xml", href=document.self_url)
    child(feed, _a("generator"), "tickerfeed")
    for item in document.items:
        _entry(feed, item, document.site_url)
    return serialize(feed)
