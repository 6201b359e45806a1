"""RSS 2.0 (https://www.rssboard.org/rss-specification) with the usual modules:
content:encoded for full text, dc:creator for names (RSS `author` must be an e-mail),
media:content for the hero image (an `enclosure` needs a byte length we do not know)."""

from datetime import datetime
from wsgiref.handlers import format_date_time

from app.feeds.document import AI_CATEGORY, TICKERFEED_NS, FeedDocument, FeedItem
from app.feeds.xml import (
    ATOM_NS,
    CONTENT_NS,
    DC_NS,
    DCTERMS_NS,
    DECLARATION,
    MEDIA_NS,
    attribute,
    html_text,
    image_type,
    rfc3339,
    start_tag,
    text,
    tickers,
)

MEDIA_TYPE = "application/rss+xml; charset=utf-8"
ROOT = start_tag(
    "rss",
    {
        "xmlns:atom": ATOM_NS,
        "xmlns:content": CONTENT_NS,
        "xmlns:dc": DC_NS,
        "xmlns:dcterms": DCTERMS_NS,
        "xmlns:media": MEDIA_NS,
        "xmlns:tf": TICKERFEED_NS,
        "version": "2.0",
    },
)
INDENT = "      "


def _date(moment: datetime) -> str:
    """RFC 822 as RSS 2.0 wants it, with a four-digit year: the HTTP date format."""
    return format_date_time(moment.timestamp())


def _image(item: FeedItem) -> list[str]:
    image = item.image
    if image is None:
        return []
    kind = image_type(image.url)
    start = f'{INDENT}<media:content url="{attribute(image.url)}" medium="image"' + (
        f' type="{attribute(kind)}"' if kind else ""
    )
    inside = []
    if image.alt:
        inside.append(f'{INDENT}  <media:description type="plain">{text(image.alt)}</media:description>\n')
    if image.credit:
        inside.append(f"{INDENT}  <media:credit>{text(image.credit)}</media:credit>\n")
    if not inside:
        return [f"{start}/>\n"]
    return [f"{start}>\n", *inside, f"{INDENT}</media:content>\n"]


def _item(item: FeedItem, site_url: str) -> list[str]:
    # Readers render RSS `title` and `description` as HTML: `<` in a headline stays text.
    lines = [
        "    <item>\n"
        f"{INDENT}<title>{html_text(item.title)}</title>\n"
        f"{INDENT}<link>{text(item.url)}</link>\n"
        f'{INDENT}<guid isPermaLink="false">{text(item.id)}</guid>\n'
        f"{INDENT}<description>{html_text(item.summary)}</description>\n"
    ]
    if item.content_html is not None:
        lines.append(f"{INDENT}<content:encoded>{text(item.content_html)}</content:encoded>\n")
    lines.append(
        f"{INDENT}<dc:creator>{text(item.author_name)}</dc:creator>\n"
        f"{INDENT}<pubDate>{_date(item.published)}</pubDate>\n"
        f"{INDENT}<dcterms:modified>{rfc3339(item.updated)}</dcterms:modified>\n"
    )
    tickers_domain = attribute(f"{site_url}/tickers")
    lines.extend(
        f'{INDENT}<category domain="{tickers_domain}">{text(ticker.symbol)}</category>\n' for ticker in item.tickers
    )
    tags_domain = attribute(f"{site_url}/tags")
    lines.extend(f'{INDENT}<category domain="{tags_domain}">{text(tag.name)}</category>\n' for tag in item.tags)
    if item.ai_generated:
        lines.append(f"{INDENT}<category>{AI_CATEGORY}</category>\n")
    lines.extend(_image(item))
    lines.extend(tickers(item, INDENT))
    lines.append("    </item>\n")
    return lines


def render_rss(document: FeedDocument) -> bytes:
    lines = [
        f"{DECLARATION}{ROOT}\n"
        "  <channel>\n"
        f"    <title>{html_text(document.title)}</title>\n"
        f"    <link>{text(document.home_url)}</link>\n"
        f"    <description>{html_text(document.description)}</description>\n"
        f"    <language>{text(document.language)}</language>\n"
        f"    <lastBuildDate>{_date(document.updated)}</lastBuildDate>\n"
        "    <generator>tickerfeed</generator>\n"
        f'    <atom:link href="{attribute(document.self_url)}" rel="self" type="application/rss+xml"/>\n'
    ]
    for item in document.items:
        lines.extend(_item(item, document.site_url))
    lines.append("  </channel>\n</rss>\n")
    return "".join(lines).encode()
