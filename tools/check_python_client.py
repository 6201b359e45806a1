"""A Python client generated from docs/openapi.json, used as a new reader and an editor
would use it (issue 11): openapi-python-client's plain anonymous `Client` and its
`AuthenticatedClient` with an admin key, against a live server with the demo content.
`make check-client` runs it in CI; a change to the document that breaks the generated
client, or a server that stops answering as the document says, fails it.

Anonymously it lists the feed, follows its cursor, filters by ticker, reads an article and
gets a 404 problem document; with a key made by `tickerfeed keys create` it creates an
article (and finds it on the feed and by its slug) and subscribes to the newsletter. Each
step checks the parsed model, not just the status.
"""

import importlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from live_server import BIN, create_key, serving

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
PACKAGE = "tickerfeed_client"


def generate(into: Path) -> None:
    started = time.monotonic()
    subprocess.run(
        [
            str(BIN / "openapi-python-client"), "generate",
            "--path", str(DOCUMENT), "--output-path", str(into / PACKAGE), "--meta", "none",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    lines = sum(len(path.read_text().splitlines()) for path in (into / PACKAGE).rglob("*.py"))
    print(f"generated {PACKAGE}: {lines} lines in {time.monotonic() - started:.1f} s")


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}" if name else PACKAGE)


def check(url: str) -> None:
    """The anonymous reads."""
    list_articles = module("api.articles.list_articles")
    get_article = module("api.articles.get_article")
    models = module("models")

    client = module("").Client(base_url=url, raise_on_unexpected_status=True)
    first = list_articles.sync(client=client, limit=2)
    assert isinstance(first, models.PageArticleCard), first
    assert len(first.items) == 2 and isinstance(first.next_cursor, str), first
    second = list_articles.sync(client=client, limit=2, cursor=first.next_cursor)
    assert isinstance(second, models.PageArticleCard), second
    assert not {a.slug for a in first.items} & {a.slug for a in second.items}, "the cursor repeated articles"
    print(f"feed: {len(first.items)} + {len(second.items)} articles over a cursor")

    on_nvda = list_articles.sync(client=client, ticker=["NVDA"])
    assert isinstance(on_nvda, models.PageArticleCard) and on_nvda.items, on_nvda
    assert all(any(t.symbol == "NVDA" for t in a.tickers) for a in on_nvda.items), "ticker filter"
    print(f"ticker=NVDA: {len(on_nvda.items)} articles")

    detail = get_article.sync(client=client, slug=on_nvda.items[0].slug)
    assert isinstance(detail, models.ArticleDetail) and detail.body_html, detail
    print(f"detail: {detail.slug} ({detail.word_count} words)")

    missing = get_article.sync_detailed(client=client, slug="no-such-article")
    assert missing.status_code == 404, missing
    assert isinstance(missing.parsed, models.ProblemDocument), missing.parsed
    assert missing.parsed.type_ == "/problems/not-found", missing.parsed
    print(f"404: {missing.parsed.title}: {missing.parsed.detail}")


def check_writes(url: str, key: str) -> None:
    """With an admin key: create an article, find it on the feed and by slug; subscribe."""
    create_article = module("api.articles.create_article")
    list_articles = module("api.articles.list_articles")
    get_article = module("api.articles.get_article")
    create_subscription = module("api.subscriptions.create_subscription")
    models = module("models")

    client = module("").AuthenticatedClient(base_url=url, token=key, raise_on_unexpected_status=True)
    authors = module("api.authors.list_authors").sync(client=client, limit=100)
    assert isinstance(authors, models.PageAuthorRead), authors
    author = next(a.slug for a in authors.items if a.kind == models.AuthorReadKind.HUMAN)
    body = models.ArticleCreate(
        title="Client check: chip stocks steady",
        body_markdown="Written through the generated client. Also on $NVDA.",
        author=author,
        status=models.ArticleCreateStatus.PUBLISHED,
        tickers=["NVDA"],
    )
    created = create_article.sync(client=client, body=body)
    assert isinstance(created, models.ArticleDetail), created
    assert created.status == models.ArticleDetailStatus.PUBLISHED and created.author.slug == author, created
    assert [(t.symbol, t.role) for t in created.tickers] == [("NVDA", "primary")], created.tickers
    print(f"created: {created.slug} by {created.author.slug}")

    feed = list_articles.sync(client=client, ticker=["NVDA"], limit=5)
    assert isinstance(feed, models.PageArticleCard) and feed.items[0].slug == created.slug, feed
    detail = get_article.sync(client=client, slug=created.slug)
    assert isinstance(detail, models.ArticleDetail) and "generated client" in detail.body_html, detail
    print(f"feed and detail: {detail.slug} ({detail.word_count} words)")

    request = models.SubscriptionRequest(
        email="client-check@example.com", newsletters=["daily-headlines"], tickers=["NVDA"]
    )
    accepted = create_subscription.sync_detailed(client=client, body=request)
    assert accepted.status_code == 202, accepted
    assert isinstance(accepted.parsed, models.SubscriptionAccepted), accepted.parsed
    print(f"subscribe: {accepted.status_code} {accepted.parsed.status}: {accepted.parsed.detail}")


def main() -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tickerfeed-client-"))
    settings = {
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'client-check.db'}",
        "LOAD_DEMO_CONTENT": "true",
        "SEND_MAIL_ON_REQUEST": "false",  # the confirmation waits in the outbox
    }
    try:
        generate(workdir)
        sys.path.insert(0, str(workdir))
        with serving(workdir, settings) as url:
            check(url)
            check_writes(url, create_key(workdir, settings, "admin"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"generated Python client checked in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
