"""A fixed, seeded, realistic catalogue: authors, tickers, tags and N published articles.

Rows are plain tuples in the column order of `ARTICLE_COLUMNS` and friends, produced in
chunks so a million articles never sit in memory at once. Bodies come from a handful of
Markdown templates rendered once with the app's own renderer; each article substitutes
its company and topic words into both the Markdown and the HTML (single plain words, so
the rendered HTML stays what the renderer would have produced).
"""

import html
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.articles.rendering import render_body

SEED = 20261129
SITE_URL = "https://news.example"
# Every article is published before this instant, one distinct second or more apart.
NEWEST = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)

AUTHOR_COUNT = 50
AI_AGENTS = 12
TICKER_COUNT = 500
PLACEHOLDERS = ("Zqcompanyq", "zqtopiconeq", "zqtopictwoq")

TAGS = [
    ("ai", "AI"), ("earnings", "Earnings"), ("policy", "Policy"), ("crypto", "Crypto"),
    ("semiconductors", "Semiconductors"), ("energy", "Energy"), ("banking", "Banking"),
    ("retail", "Retail"), ("autos", "Autos"), ("healthcare", "Healthcare"), ("mergers", "Mergers"),
    ("ipos", "IPOs"), ("dividends", "Dividends"), ("macro", "Macro"), ("rates", "Rates"),
    ("commodities", "Commodities"), ("china", "China"), ("europe", "Europe"),
    ("analyst-ratings", "Analyst ratings"), ("markets-wrap", "Markets wrap"),
]
REAL_TICKERS = [
    ("NVDA", "Nvidia", "equity", "NASDAQ"), ("AAPL", "Apple", "equity", "NASDAQ"),
    ("MSFT", "Microsoft", "equity", "NASDAQ"), ("BABA", "Alibaba", "equity", "NYSE"),
    ("TSLA", "Tesla", "equity", "NASDAQ"), ("AMZN", "Amazon", "equity", "NASDAQ"),
    ("GOOGL", "Alphabet", "equity", "NASDAQ"), ("META", "Meta", "equity", "NASDAQ"),
    ("JPM", "JPMorgan", "equity", "NYSE"), ("XOM", "Exxon", "equity", "NYSE"),
    ("BTC", "Bitcoin", "crypto", None), ("ETH", "Ether", "crypto", None),
    ("SOL", "Solana", "crypto", None), ("SPY", "SPDR S&P 500", "etf", "NYSEARCA"),
    ("QQQ", "Invesco QQQ", "etf", "NASDAQ"), ("SPX", "S&P 500", "index", None),
    ("EURUSD", "Euro / US dollar", "fx", None), ("GC", "Gold futures", "commodity", "COMEX"),
]
FIRST_NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
               "Kemi", "Lars", "Maya", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST_NAMES = ["Adler", "Brook", "Chen", "Diaz", "Evans", "Fischer", "Gupta", "Hart", "Ito",
              "Jensen", "Khan", "Lopez", "Meyer", "Nakamura", "Okafor", "Park", "Rossi", "Silva"]
# Search words: each headline carries two, so one word matches about 2% of the catalogue.
TOPICS = [
    "guidance", "buyback", "tariffs", "layoffs", "downgrade", "upgrade", "rally", "selloff",
    "merger", "acquisition", "lawsuit", "recall", "dividend", "stablecoin", "halving", "antitrust",
    "chipmaker", "datacenter", "inflation", "payrolls", "refinery", "pipeline", "biotech",
    "vaccine", "subscription", "streaming", "shipments", "deliveries", "margin", "outlook",
    "forecast", "spinoff", "listing", "delisting", "regulator", "settlement", "bankruptcy",
    "restructuring", "licensing", "partnership", "smartphone", "semiconductor", "battery",
    "lithium", "uranium", "copper", "wheat", "freight", "airline", "tourism",
]
VERBS = ["beats", "misses", "raises", "cuts", "weighs", "eyes", "slashes", "boosts", "faces", "wins"]
FILLER = (
    "Shares moved sharply in early trading as investors weighed the numbers against consensus "
    "estimates. Analysts said the quarter showed resilient demand, although management struck a "
    "cautious tone on the second half. Volumes were well above the thirty-day average and options "
    "activity pointed to further volatility ahead of the next report. The company reiterated its "
    "capital return plans and said supply constraints should ease over the coming months. "
    "Portfolio managers noted that positioning had been light going into the release, which "
    "amplified the move. Credit spreads were little changed and the broader index traded flat. "
).split(". ")


@dataclass(frozen=True)
class Size:
    articles: int
    body_bytes: int


SIZES = {"tiny": Size(200, 1000), "10k": Size(10_000, 5000), "1m": Size(1_000_000, 1000)}

AUTHOR_COLUMNS = ("id", "slug", "name", "kind", "bio", "avatar_url", "expertise", "audience",
                  "disclosure", "links", "created_at", "updated_at")
TICKER_COLUMNS = ("id", "symbol", "name", "asset_class", "exchange", "created_at", "updated_at")
TAG_COLUMNS = ("id", "slug", "name", "description", "created_at", "updated_at")
ARTICLE_COLUMNS = (
    "id", "slug", "title", "dek", "body_markdown", "body_html", "word_count",
    "reading_time_minutes", "status", "published_at", "author_id", "hero_image_url",
    "hero_image_alt", "hero_image_credit", "reviewed_by", "reviewed_at", "deleted_at",
    "created_at", "updated_at",
)
# published_at: the ticker feed's copy (migration 5f0c2a9d8e41), set here because COPY
# runs with triggers off.
ARTICLE_TICKER_COLUMNS = ("article_id", "ticker_id", "role", "published_at")
ARTICLE_TAG_COLUMNS = ("article_id", "tag_id")


def authors() -> list[tuple[object, ...]]:
    rng = random.Random(SEED + 1)
    rows = []
    for i in range(1, AUTHOR_COUNT + 1):
        agent = i <= AI_AGENTS
        name = f"{rng.choice(TOPICS).capitalize()} Desk Agent {i}" if agent else (
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
        slug = f"{name.lower().replace(' ', '-')}-{i}"
        rows.append((
            i, slug, name, "ai_agent" if agent else "human",
            f"{name} covers {rng.choice(TOPICS)} and {rng.choice(TOPICS)} for the markets desk.",
            f"https://cdn.news.example/avatars/{slug}.jpg",
            [rng.choice(TOPICS), rng.choice(TOPICS)],
            "Retail and professional investors" if agent else None,
            "Written by a language model persona, reviewed by the markets desk." if agent else None,
            [{"label": "Website", "url": f"https://news.example/authors/{slug}"}],
            CREATED, CREATED,
        ))
    return rows


def tickers() -> list[tuple[object, ...]]:
    rng = random.Random(SEED + 2)
    rows: list[tuple[object, ...]] = []
    seen = set()
    for symbol, name, asset_class, exchange in REAL_TICKERS:
        seen.add(symbol)
        rows.append((len(rows) + 1, symbol, name, asset_class, exchange, CREATED, CREATED))
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while len(rows) < TICKER_COUNT:
        symbol = "".join(rng.choice(letters) for _ in range(rng.choice((3, 4))))
        if symbol in seen:
            continue
        seen.add(symbol)
        name = f"{symbol.capitalize()} {rng.choice(['Holdings', 'Corp', 'Group', 'Systems', 'Energy'])}"
        exchange = rng.choice(["NYSE", "NASDAQ"])
        rows.append((len(rows) + 1, symbol, name, "equity", exchange, CREATED, CREATED))
    return rows


def tags() -> list[tuple[object, ...]]:
    return [(i, slug, name, f"News about {name}.", CREATED, CREATED)
            for i, (slug, name) in enumerate(TAGS, start=1)]


def _template(rng: random.Random, body_bytes: int) -> str:
    company, topic1, topic2 = PLACEHOLDERS
    parts = [f"{company} said on Tuesday that {topic1} would shape the year, and {topic2} too."]
    while sum(len(p) for p in parts) < body_bytes:
        kind = rng.random()
        if kind < 0.1:
            parts.append(f"## What {company} means for {topic1}")
        elif kind < 0.2:
            parts.append("\n".join(f"- {rng.choice(FILLER).strip()}." for _ in range(3)))
        else:
            sentences = [rng.choice(FILLER).strip() for _ in range(rng.randint(2, 4))]
            parts.append(". ".join(sentences) + f". **{company}** and {topic2} stayed in focus.")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Body:
    markdown: str
    html: str
    word_count: int
    reading_time_minutes: int


def body_templates(body_bytes: int, count: int = 6) -> list[Body]:
    rng = random.Random(SEED + 3)
    out = []
    for _ in range(count):
        markdown = _template(rng, body_bytes)
        rendered = render_body(markdown, site_url=SITE_URL, resolve=lambda _symbol: None)
        out.append(Body(markdown, rendered.html, rendered.word_count, rendered.reading_time_minutes))
    return out


def slug_of(title: str, article_id: int) -> str:
    return f"{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}-{article_id}"


def _fill(text: str, company: str, topic1: str, topic2: str) -> str:
    return (text.replace(PLACEHOLDERS[0], company).replace(PLACEHOLDERS[1], topic1)
            .replace(PLACEHOLDERS[2], topic2))


@dataclass
class Chunk:
    articles: list[tuple[object, ...]]
    article_tickers: list[tuple[object, ...]]
    article_tags: list[tuple[object, ...]]


def articles(size: Size, chunk_size: int = 20_000) -> Iterator[Chunk]:
    """Article id i is published before article i+1; ids and times are both unique."""
    rng = random.Random(SEED + 4)
    bodies = body_templates(size.body_bytes)
    ticker_rows = tickers()
    # A few names dominate the news, as they do on a real markets site.
    weights = [40 if i < len(REAL_TICKERS) else 1 for i in range(len(ticker_rows))]
    ticker_ids = [row[0] for row in ticker_rows]
    names = {row[0]: str(row[2]).split()[0] for row in ticker_rows}
    span = max(60, int(3 * 365 * 86400 / size.articles))  # about three years of news
    oldest = NEWEST - timedelta(seconds=span * size.articles)
    chunk = Chunk([], [], [])
    for article_id in range(1, size.articles + 1):
        published = oldest + timedelta(seconds=span * (article_id - 1) + rng.randrange(span - 1))
        chosen = list(dict.fromkeys(rng.choices(ticker_ids, weights, k=rng.randint(1, 3))))
        company = names[chosen[0]]
        topic1, topic2 = rng.sample(TOPICS, 2)
        title = f"{company} {rng.choice(VERBS)} on {topic1} as {topic2} {rng.choice(['looms', 'eases', 'bites', 'fades'])}"
        body = bodies[article_id % len(bodies)]
        agent_author = rng.randint(1, AUTHOR_COUNT)
        reviewed = agent_author <= AI_AGENTS
        hero = article_id % 3 != 0
        chunk.articles.append((
            article_id, slug_of(title, article_id), title,
            f"{company} {topic1}: what the {topic2} news means for investors this week.",
            _fill(body.markdown, company, topic1, topic2), _fill(body.html, html.escape(company), topic1, topic2),
            body.word_count, body.reading_time_minutes, "published", published, agent_author,
            f"https://cdn.news.example/hero/{article_id}.jpg" if hero else None,
            f"{company} headquarters" if hero else None, "Newswire" if hero else None,
            "Dana Editor" if reviewed else None, published if reviewed else None, None,
            published, published,
        ))
        for position, ticker_id in enumerate(chosen):
            role = "primary" if position == 0 else "mentioned"
            chunk.article_tickers.append((article_id, ticker_id, role, published))
        for tag_id in rng.sample(range(1, len(TAGS) + 1), rng.randint(1, 3)):
            chunk.article_tags.append((article_id, tag_id))
        if len(chunk.articles) >= chunk_size:
            yield chunk
            chunk = Chunk([], [], [])
    if chunk.articles:
        yield chunk
