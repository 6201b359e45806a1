"""body_html is safe to inject into a page whatever Markdown an editor (or a thief of their key) sends."""

import re
from html.parser import HTMLParser

import pytest

from tests.factories import create_author, create_ticker


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<details open ontoggle=alert(1)>x</details>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<object data="javascript:alert(1)"></object>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;&#x61;vascript:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](%6A%61vascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1))",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![img](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    "[ref][1]\n\n[1]: javascript:alert(1)",
    '[t](https://example.com "a\\" onmouseover=\\"alert(1)")',
    '![a" onerror="alert(1)](https://img.example/a.png)',
    "[$NVDA](javascript:alert(1))",
    "<a href='javascript:alert(1)'>$NVDA</a>",
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<!-- --><script>alert(1)</script>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    "<input onfocus=alert(1) autofocus>",
    "<body onload=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
]

ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "strong", "em", "del", "s", "code",
    "pre", "blockquote", "hr", "br", "img", "table", "thead", "tbody", "tr", "th", "td",
}
DANGEROUS_SCHEME = re.compile(r"^(javascript|vbscript|data):", re.IGNORECASE)
TABLE_ALIGN = re.compile(r"^text-align:(left|right|center)$")
INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


class MarkupCollector(HTMLParser):
    """Every tag and attribute a browser would see in the HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_safe(html: str) -> None:
    assert "<script" not in html.lower(), html
    assert not re.search(r"<\s*/?\s*(script|iframe|svg|style|object|embed|math|form|input|meta|body)\b", html, re.I), html
    collector = MarkupCollector()
    collector.feed(html)
    collector.close()
    for tag, attrs in collector.tags:
        assert tag in ALLOWED_TAGS, html
        for name, value in attrs:
            assert not name.lower().startswith("on"), html
            assert name.lower() not in {"srcdoc", "formaction", "xlink:href"}, html
            if name.lower() == "style":
                # Only the table alignment Markdown itself writes.
                assert tag in {"th", "td"} and TABLE_ALIGN.match(value or ""), html
            if name.lower() in {"href", "src"}:
                # Browsers drop whitespace and control characters before reading a scheme.
                url = INVISIBLE.sub("", value or "")
                assert not DANGEROUS_SCHEME.match(url), html
                assert "javascript:" not in url.lower(), html


async def render(client, session, writer, markdown: str) -> str:
    author = await create_author(session)
    response = await client.post(
        "/v1/articles",
        headers=writer,
        json={"title": "Payload", "body_markdown": markdown, "author": author.slug, "status": "draft"},
    )
    assert response.status_code == 201, response.text
    return response.json()["body_html"]


def test_lists_enough_payloads():
    assert len(XSS_PAYLOADS) >= 15


@pytest.mark.asyncio(loop_scope="session")
class TestBodySanitization:
    @pytest.mark.parametrize("payload", XSS_PAYLOADS)
    async def test_neutralises_payload(self, client, session, writer, payload):
        await create_ticker(session, "NVDA")

        html = await render(client, session, writer, f"Before.\n\n{payload}\n\nAfter.")

        assert_safe(html)
        assert "After." in html

    @pytest.mark.parametrize("payload", XSS_PAYLOADS)
    async def test_neutralises_payload_on_edit(self, client, session, writer, payload):
        author = await create_author(session)
        created = await client.post(
            "/v1/articles", headers=writer,
            json={"title": "Edit me", "body_markdown": "Safe.", "author": author.slug, "status": "draft"},
        )

        response = await client.patch(
            f"/v1/articles/{created.json()['slug']}", headers=writer, json={"body_markdown": payload}
        )

        assert_safe(response.json()["body_html"])

    async def test_keeps_safe_markup(self, client, session, writer):
        html = await render(
            client, session, writer,
            "# Title\n\nA [link](https://example.com/a?b=1&c=2 \"T\") and ![chart](https://img.example/c.png).\n\n"
            "| a | b |\n|---|--:|\n| 1 | 2 |\n\n> quote\n\n- item\n\n~~gone~~ `code`",
        )

        assert '<a href="https://example.com/a?b=1&amp;c=2" title="T" rel="noopener noreferrer">link</a>' in html
        assert '<img src="https://img.example/c.png" alt="chart">' in html
        assert '<td style="text-align:right">2</td>' in html
        for tag in ("<h1>Title</h1>", "<blockquote>", "<li>", "<s>gone</s>", "<code>", "<table>"):
            assert tag in html
        assert_safe(html)

    async def test_keeps_raw_html_as_visible_text(self, client, session, writer):
        html = await render(client, session, writer, "<b>bold</b> <script>alert(1)</script>")

        assert html == "<p>&lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
