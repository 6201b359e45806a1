"""Atom 1.0 (RFC 4287), with the hero image as `link rel="enclosure"`."""

from app.feeds.document import AI_CATEGORY, TICKERFEED_NS, FeedDocument, FeedItem
from app.feeds.xml import ATOM_NS, DECLARATION, attribute, image_type, rfc3339, start_tag, text, tickers

MEDIA_TYPE = "application/atom+xml; charset=utf-8"
INDENT = "    "


def _enclosure(item: FeedItem) -> list[str]:
    image = item.image
    if image is None:
        return []
    kind = image_type(image.url)
    return [
        f'{INDENT}<link rel="enclosure" href="{attribute(image.url)}"'
        + (f' type="{attribute(kind)}"' if kind else "")
        + (f' title="{attribute(image.alt)}"' if image.alt else "")
        + "/>\n"
    ]


def _entry(item: FeedItem, site_url: str) -> list[str]:
    lines = [
        "  <entry>\n"
        f"{INDENT}<id>{text(item.id)}</id>\n"
        f'{INDENT}<title type="text">{text(item.title)}</title>\n'
        f'{INDENT}<link rel="alternate" type="text/html" href="{attribute(item.url)}"/>\n'
        f"{INDENT}<published>{rfc3339(item.published)}</published>\n"
        f"{INDENT}<updated>{rfc3339(item.updated)}</updated>\n"
        f"{INDENT}<author>\n"
        f"{INDENT}  <name>{text(item.author_name)}</name>\n"
        f"{INDENT}  <uri>{text(item.author_url)}</uri>\n"
        f"{INDENT}</author>\n"
        f'{INDENT}<summary type="text">{text(item.summary)}</summary>\n'
    ]
    if item.content_html is not None:
        lines.append(f'{INDENT}<content type="html">{text(item.content_html)}</content>\n')
    tickers_scheme = attribute(f"{site_url}/tickers")
    lines.extend(
        f'{INDENT}<category term="{attribute(ticker.symbol)}" scheme="{tickers_scheme}" '
        f'label="{attribute(ticker.name)}"/>\n'
        for ticker in item.tickers
    )
    tags_scheme = attribute(f"{site_url}/tags")
    lines.extend(
        f'{INDENT}<category term="{attribute(tag.slug)}" scheme="{tags_scheme}" label="{attribute(tag.name)}"/>\n'
        for tag in item.tags
    )
    if item.ai_generated:
        lines.append(f'{INDENT}<category term="{AI_CATEGORY}" label="AI-generated"/>\n')
    lines.extend(_enclosure(item))
    lines.extend(tickers(item, INDENT))
    lines.append("  </entry>\n")
    return lines


def render_atom(document: FeedDocument) -> bytes:
    root = start_tag("feed", {"xmlns": ATOM_NS, "xmlns:tf": TICKERFEED_NS, "xml:lang": document.language})
    lines = [
        f"{DECLARATION}{root}\n"
        f"  <id>{text(document.id)}</id>\n"
        f'  <title type="text">{text(document.title)}</title>\n'
        f'  <subtitle type="text">{text(document.description)}</subtitle>\n'
        f"  <updated>{rfc3339(document.updated)}</updated>\n"
        f'  <link rel="alternate" type="text/html" href="{attribute(document.home_url)}"/>\n'
        f'  <link rel="self" type="application/atom+xml" href="{attribute(document.self_url)}"/>\n'
        "  <generator>tickerfeed</generator>\n"
    ]
    for item in document.items:
        lines.extend(_entry(item, document.site_url))
    lines.append("</feed>\n")
    return "".join(lines).encode()
