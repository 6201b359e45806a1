"""GET /v1/stream over running servers: uvicorn in subprocesses, two API processes on one
database, real SSE clients (httpx streaming, and a raw socket that stops reading).

The notification tests set `STREAM_POLL_SECONDS=60`, so an event that arrives within
seconds was carried by a notification, not found by the poll.
"""

import asyncio
import secrets
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlmodel import select

from app.db import create_engine, create_sessionmaker
from app.models import Author
from tests.factories import create_article
from tests.stream.live import Deployment, Message, deploy, open_stream, settings_for, suite_backend

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUIET = {"stream_poll_seconds": 60}


@pytest.fixture(scope="module")
def redis_pair() -> Iterator[Deployment]:
    """Two processes on the suite's backend, told of changes through Redis."""
    with deploy(
        suite_backend(), processes=2, redis=True, stream_heartbeat_seconds=0.5, stream_queue_events=8,
        stream_send_timeout_seconds=120, **QUIET,
    ) as deployment:
        yield deployment


async def author_of(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        authors = (await client.get("/v1/authors")).json()["items"]
    return next(author["slug"] for author in authors if author["kind"] == "human")


async def publish(deployment: Deployment, url: str, *, tickers: list[str], **fields: Any) -> dict[str, Any]:
    body = {
        "title": f"Stream {secrets.token_hex(4)}", "body_markdown": "News.", "author": await author_of(url),
        "status": "published", "tickers": tickers, **fields,
    }
    async with httpx.AsyncClient(base_url=url, headers=deployment.writer) as client:
        response = await client.post("/v1/articles", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def edit(deployment: Deployment, url: str, method: str, path: str, **body: Any) -> None:
    async with httpx.AsyncClient(base_url=url, headers=deployment.writer) as client:
        response = await client.request(method, path, json=body or None)
    assert response.status_code in (200, 204), response.text


async def card_in_list(url: str, slug: str, ticker: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        items = (await client.get("/v1/articles", params={"ticker": ticker})).json()["items"]
    return next(item for item in items if item["slug"] == slug)


def gone(article: dict[str, Any]) -> dict[str, Any]:
    return {"id": article["id"], "slug": article["slug"]}


class TestAcrossProcesses:
    async def test_a_publish_through_one_process_reaches_a_client_of_the_other(self, redis_pair: Deployment) -> None:
        one, other = redis_pair.urls
        async with open_stream(other) as stream:
            article = await publish(redis_pair, one, tickers=["NVDA"])
            event = await stream.next()
        assert event.event == "article.published"
        assert isinstance(event.id, int)
        assert event.data == await card_in_list(one, article["slug"], "NVDA")

    async def test_the_ticker_filter_keeps_what_carries_or_carried_it(self, redis_pair: Deployment) -> None:
        one, other = redis_pair.urls
        async with open_stream(other, params={"ticker": ["amd", "TSLA"]}) as stream:
            await publish(redis_pair, one, tickers=["NVDA"])
            amd = await publish(redis_pair, one, tickers=["AMD"])
            await edit(redis_pair, one, "PATCH", f"/v1/articles/{amd['slug']}", status="draft")
            tesla = await publish(redis_pair, one, tickers=["TSLA", "NVDA"])
            await edit(redis_pair, one, "PATCH", f"/v1/articles/{tesla['slug']}", tickers=["NVDA"])
            await edit(redis_pair, one, "PATCH", f"/v1/articles/{tesla['slug']}", title="Moved on")
            deleted = await publish(redis_pair, one, tickers=["AMD"])
            await edit(redis_pair, one, "DELETE", f"/v1/articles/{deleted['slug']}")
            events = await stream.events(7)
        # As in `GET /v1/changes`: a change matches every ticker its article carried since it
        # became visible, so a mirror filtered on TSLA hears of the article that left TSLA.
        assert [(event.event, event.data["slug"]) for event in events] == [
            ("article.published", amd["slug"]),
            ("article.unpublished", amd["slug"]),
            ("article.published", tesla["slug"]),
            ("article.updated", tesla["slug"]),
            ("article.updated", tesla["slug"]),
            ("article.published", deleted["slug"]),
            ("article.deleted", deleted["slug"]),
        ]
        assert events[1].data == gone(amd)
        assert events[6].data == gone(deleted)
        assert [event.id for event in events] == sorted({event.id for event in events})

    async def test_last_event_id_replays_exactly_the_missed_events_then_goes_live(
        self, redis_pair: Deployment
    ) -> None:
        """Replayed events carry the article as it is now (as `GET /v1/changes` does)."""
        one, other = redis_pair.urls
        async with open_stream(one) as watcher:
            async with open_stream(other) as first:
                await publish(redis_pair, one, tickers=["NVDA"])
                seen = await first.next()
            # Disconnected: what it misses, written through both processes.
            missed = [await publish(redis_pair, url, tickers=["AMD"]) for url in (one, other, one)]
            await edit(redis_pair, other, "PATCH", f"/v1/articles/{missed[0]['slug']}", title="Edited")
            assert (await watcher.next()).id == seen.id
            history = await watcher.events(4)
            for headers, params in (({"Last-Event-ID": str(seen.id)}, None), (None, {"last_event_id": seen.id})):
                async with open_stream(other, headers=headers, params=params) as resumed:
                    replayed = await resumed.events(len(history))
                    assert [key(event) for event in replayed] == [key(event) for event in history]
                    live = await publish(redis_pair, one, tickers=["TSLA"])
                    history.append(await watcher.next())
                    assert await resumed.next() == history[-1]
                    assert history[-1].data["slug"] == live["slug"]


def key(event: Message) -> tuple[Any, ...]:
    return event.id, event.event, event.data["slug"]


class TestOverTime:
    async def test_heartbeat_comments_arrive(self, redis_pair: Deployment) -> None:
        async with open_stream(redis_pair.urls[0]) as stream:
            message = await stream.next(timeout=3, comments=True)
        assert message == Message(comment="keep-alive")

    async def test_a_scheduled_article_arrives_when_it_comes_due(self, redis_pair: Deployment) -> None:
        one, other = redis_pair.urls
        due = datetime.now(UTC) + timedelta(seconds=2)
        async with open_stream(other) as stream:
            article = await publish(redis_pair, one, tickers=["NVDA"], published_at=due.isoformat())
            event = await stream.next(timeout=10)
        assert (event.event, event.data["slug"]) == ("article.published", article["slug"])
        assert datetime.now(UTC) >= due

    async def test_a_slow_client_is_closed_with_the_reason_while_a_fast_one_keeps_receiving(
        self, redis_pair: Deployment
    ) -> None:
        """The slow client asks for a small receive window and reads nothing while more
        events go out than the server's socket buffer holds at its largest (4 MiB):
        20 tickers make an event of about 3.5 KB. Then it reads what reached it."""
        one, other = redis_pair.urls
        symbols = await all_symbols(one)
        expected = 40 + 35 * 40
        slow = SlowClient(other)
        try:
            async with open_stream(other) as fast:
                reading = asyncio.create_task(fast.events(expected, timeout=30))
                articles = [
                    await publish(redis_pair, one, tickers=symbols, title=f"{n} " + "T" * 190, dek="D" * 500)
                    for n in range(40)
                ]
                for rename in range(35):  # each updates the 40 articles showing the ticker, and more
                    await edit(redis_pair, one, "PATCH", f"/v1/tickers/{symbols[0]}", name=f"Renamed {rename}")
                received = await reading
            events, last = slow.read_all()
        finally:
            slow.socket.close()
        assert [event.data["slug"] for event in received[:40]] == [article["slug"] for article in articles]
        assert all(event.event == "article.updated" for event in received[40:])
        ids = [event.id for event in received]
        assert ids == sorted(set(ids))
        assert last == Message(event="error", data={"reason": "too slow: resume with Last-Event-ID"})
        assert 0 < len(events) < len(received)
        # What it got before it fell behind: the first events, none skipped.
        assert [event.id for event in events] == ids[: len(events)]


@pytest.fixture(scope="module")
def listen_notify_pair() -> Iterator[Deployment]:
    """Two processes on PostgreSQL without Redis: told of changes by LISTEN/NOTIFY."""
    if suite_backend() != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's: run the suite with TEST_DATABASE_URL=postgresql+asyncpg://…")
    with deploy("postgresql", processes=2, redis=False, **QUIET) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def embedded() -> Iterator[Deployment]:
    """The embedded default: SQLite, no Redis, one process; at most 2 streams."""
    with deploy("sqlite", processes=1, redis=False, stream_max_clients=2, **QUIET) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def polled() -> Iterator[Deployment]:
    """One process on the suite's backend, with Redis, reading the log every half second."""
    with deploy(suite_backend(), processes=1, redis=True, stream_poll_seconds=0.5) as deployment:
        yield deployment


async def write_directly(deployment: Deployment, *, tickers: list[str]) -> str:
    """An article published by a session of this test process, not through the API: no API
    process hears of it from the writer (the CLI writes so). Its slug."""
    engine = create_engine(settings_for(deployment.database_url))
    try:
        async with create_sessionmaker(engine)() as session:
            author = (await session.exec(select(Author).where(Author.kind == "human"))).first()
            assert author is not None
            article = await create_article(session, author=author, slug=f"direct-{secrets.token_hex(4)}", tickers=tickers)
            return article.slug
    finally:
        await engine.dispose()


class TestListenNotify:
    async def test_a_publish_through_one_process_reaches_a_client_of_the_other(
        self, listen_notify_pair: Deployment
    ) -> None:
        one, other = listen_notify_pair.urls
        async with open_stream(other) as stream:
            article = await publish(listen_notify_pair, one, tickers=["NVDA"])
            event = await stream.next()
        assert (event.event, event.data) == ("article.published", await card_in_list(one, article["slug"], "NVDA"))

    async def test_a_write_outside_the_api_reaches_every_process(self, listen_notify_pair: Deployment) -> None:
        """The NOTIFY goes out with the writing transaction, whoever wrote."""
        one, other = listen_notify_pair.urls
        async with open_stream(one) as first, open_stream(other) as second:
            slug = await write_directly(listen_notify_pair, tickers=["AMD"])
            events = [await first.next(), await second.next()]
        assert [(event.event, event.data["slug"]) for event in events] == [("article.published", slug)] * 2
        assert events[0] == events[1]


class TestEmbedded:
    async def test_a_publish_reaches_the_clients_of_its_process(self, embedded: Deployment) -> None:
        (url,) = embedded.urls
        async with open_stream(url, params={"ticker": "NVDA"}) as stream:
            article = await publish(embedded, url, tickers=["NVDA"])
            event = await stream.next()
        assert (event.event, event.data) == ("article.published", await card_in_list(url, article["slug"], "NVDA"))

    async def test_streams_beyond_the_limit_get_a_503(self, embedded: Deployment) -> None:
        (url,) = embedded.urls
        async with open_stream(url), open_stream(url):
            async with httpx.AsyncClient(base_url=url) as client:
                response = await client.get("/v1/stream")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        # The two closed: their places are free again.
        for _ in range(50):
            async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(5, read=None)) as client:
                async with client.stream("GET", "/v1/stream") as response:
                    if response.status_code == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError("the closed streams' places were not freed")

    async def test_problems_before_the_stream(self, embedded: Deployment) -> None:
        (url,) = embedded.urls
        async with httpx.AsyncClient(base_url=url) as client:
            unknown = await client.get("/v1/stream", params={"ticker": "NOPE"})
            malformed = await client.get("/v1/stream", headers={"Last-Event-ID": "abc"})
            head = await client.head("/v1/stream")
        assert (unknown.status_code, malformed.status_code) == (422, 422)
        assert (head.status_code, head.headers["content-type"], head.content) == (
            200, "text/event-stream; charset=utf-8", b""
        )


@pytest.fixture
def to_stop() -> Iterator[Deployment]:
    """A process of its own, which the test stops."""
    with deploy("sqlite", processes=1, redis=False, **QUIET) as deployment:
        yield deployment


class TestShutdown:
    async def test_a_stream_ends_with_the_reason_and_the_process_exits(self, to_stop: Deployment) -> None:
        (url,) = to_stop.urls
        (process,) = to_stop.processes
        async with open_stream(url) as stream:
            process.terminate()
            last = await stream.next(timeout=10)
            with pytest.raises(EOFError):
                await stream.next(timeout=10)
        assert last == Message(event="error", data={"reason": "server shutting down: resume with Last-Event-ID"})
        # Within seconds, not held open by the stream; uvicorn re-raises the SIGTERM it handled.
        assert await asyncio.to_thread(process.wait, 10) in (0, -signal.SIGTERM)


class TestPoll:
    async def test_a_change_nobody_announced_arrives_by_the_poll(self, polled: Deployment) -> None:
        (url,) = polled.urls
        async with open_stream(url) as stream:
            slug = await write_directly(polled, tickers=["NVDA"])
            event = await stream.next()
        assert (event.event, event.data["slug"]) == ("article.published", slug)


async def all_symbols(url: str) -> list[str]:
    async with httpx.AsyncClient(base_url=url) as client:
        tickers = (await client.get("/v1/tickers", params={"limit": 100})).json()["items"]
    return [ticker["symbol"] for ticker in tickers][:20]


class SlowClient:
    """A stream client that reads its headers and then nothing, with a small receive window."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.connect((host, int(port)))
        self.socket.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
        self.received = b""
        while b"\r\n\r\n" not in self.received:
            self.received += self.socket.recv(4096)
        assert self.received.startswith(b"HTTP/1.1 200"), self.received

    def read_all(self) -> tuple[list[Message], Message]:
        """Every event up to the end of the response (chunked), and the last one apart."""
        self.socket.settimeout(30)
        while not self.received.endswith(b"0\r\n\r\n"):
            chunk = self.socket.recv(1 << 20)
            if not chunk:
                break
            self.received += chunk
        self.socket.close()
        messages = parse_chunked(self.received.split(b"\r\n\r\n", 1)[1])
        return messages[:-1], messages[-1]


def parse_chunked(body: bytes) -> list[Message]:
    data = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        data, body = data + body[:size], body[size + 2:]
    return [parse_event(block) for block in data.decode().split("\n\n") if block and not block.startswith(":")]


def parse_event(block: str) -> Message:
    fields = dict(line.split(": ", 1) for line in block.splitlines())
    return Message(
        id=int(fields["id"]) if "id" in fields else None, event=fields.get("event"), data=orjson.loads(fields["data"])
    )
