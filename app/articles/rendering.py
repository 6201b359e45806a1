"""Markdown in, sanitized HTML out, with cashtags such as `$NVDA` linked to known tickers.

markdown-it-py renders CommonMark with raw HTML switched off; nh3 (the Rust ammonia
sanitizer) then allow-lists tags, attributes and URL schemes, so a payload that gets
past one layer is stopped by the other.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from app.fields import symbol_in_path

WORDS_PER_MINUTE = 230
# A cashtag names a symbol with at least one letter, so prices such as $100 stay text.
CASHTAG = re.compile(r"\$(?=[A-Z0-9.\-]*[A-Z])([A-Z0-9]{1,10}(?:[.\-][A-Z0-9]{1,4})?)(?![A-Za-z0-9])")
WORD = re.compile(r"\w+(?:['’.\-]\w+)*")

ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "strong", "em", "del", "s", "code",
    "pre", "blockquote", "hr", "br", "img", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class", "data-symbol"},
    "img": {"src", "alt", "title"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}


@dataclass(frozen=True)
class Profile:
    """What a kind of text may contain once sanitized, and how its links are marked."""

    tags: frozenset[str]
    attributes: dict[str, set[str]]
    link_rel: str
    images: bool = True


ARTICLE = Profile(frozenset(ALLOWED_TAGS), ALLOWED_ATTRIBUTES, "noopener noreferrer")
# Readers' comments: no headings, tables or images (an image would load a stranger's URL
# in every visitor's browser); links are user-generated and followed by no crawler
# (rel="nofollow ugc", https://developers.google.com/search/docs/crawling-indexing/qualify-outbound-links).
COMMENT = Profile(
    frozenset({"p", "ul", "ol", "li", "a", "strong", "em", "del", "s", "code", "pre", "blockquote", "br"}),
    {"a": {"href", "title"}, "ol": {"start"}},
    "nofollow ugc",
    images=False,
)


@dataclass(frozen=True)
class RenderedBody:
    html: str
    word_count: int
    reading_time_minutes: int


def _cashtag_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "$" or state.linkLevel > 0:
        return False
    if state.pos > 0 and state.src[state.pos - 1].isalnum():
        return False
    match = CASHTAG.match(state.src, state.pos)
    if match is None:
        return False
    if not silent:
        token = state.push("cashtag", "", 0)
        token.content = match.group(0)
        token.meta = {"symbol": match.group(1)}
    state.pos = match.end()
    return True


def _render_cashtag(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    token = tokens[idx]
    canonical = env.get("linked_symbols", {}).get(token.meta["symbol"])
    if canonical is None:
        return escapeHtml(token.content)
    href = f"{env['site_url']}/tickers/{symbol_in_path(canonical)}"
    return (
        f'<a href="{escapeHtml(href)}" class="cashtag" data-symbol="{escapeHtml(canonical)}">'
        f"{escapeHtml(token.content)}</a>"
    )


def _build_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.inline.ruler.before("text", "cashtag", _cashtag_rule)
    md.add_render_rule("cashtag", _render_cashtag)
    return md


_parser = _build_parser()
# Without images, `![alt](url)` reads as "!" and a plain link to the URL.
_parser_without_images = _build_parser().disable("image")


def _cashtags(tokens: Sequence[Token]) -> list[str]:
    found: list[str] = []
    for token in tokens:
        for child in token.children or ():
            if child.type == "cashtag" and child.meta["symbol"] not in found:
                found.append(child.meta["symbol"])
    return found


def find_cashtags(markdown: str) -> list[str]:
    """Symbols written as cashtags outside code, in order of first appearance."""
    return _cashtags(_parser.parse(markdown, {}))


def render_body(
    markdown: str, *, site_url: str, resolve: Callable[[str], str | None], profile: Profile = ARTICLE
) -> RenderedBody:
    """Renders Markdown; `resolve` maps a cashtag's symbol to a known ticker's symbol or None."""
    parser = _parser if profile.images else _parser_without_images
    env: dict[str, Any] = {"site_url": site_url}
    tokens = parser.parse(markdown, env)
    env["linked_symbols"] = {
        symbol: canonical
        for symbol in _cashtags(tokens)
        if (canonical := resolve(symbol)) is not None
    }
    raw_html = parser.renderer.render(tokens, parser.options, env)
    html = nh3.clean(
        raw_html,
        tags=set(profile.tags),
        attributes=profile.attributes,
        url_schemes={"http", "https", "mailto"},
        link_rel=profile.link_rel,
    )
    words = len(WORD.findall(nh3.clean(html, tags=set())))
    return RenderedBody(
        html=html,
        word_count=words,
        reading_time_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
    )
