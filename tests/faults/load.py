"""A small load generator for the fault tests: readers and writers against a live API,
every answer recorded with its time, status, type and latency."""

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

TIMEOUT = 10.0  # a request that takes this long counts as a hang


@dataclass
class Answer:
    at: float  # seconds since the load started, when the request was sent
    kind: str
    status: int  # 0: no answer (timeout or connection error)
    problem: bool  # application/problem+json
    seconds: float
    title: str | None = None
    error: str | None = None  # the client's exception when there was no answer


@dataclass
class Load:
    url: str
    requests: dict[str, Callable[[int], tuple[str, str, dict | None]]]  # kind -> n -> (method, path, json)
    headers: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False

    def now(self) -> float:
        return time.monotonic() - self.started

    async def _client(self, kind: str, make: Callable[[int], tuple[str, str, dict | None]], client_id: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=TIMEOUT, headers=self.headers) as client:
            n = 0
            while not self.stopping:
                n += 1
                method, path, body = make(client_id * 1_000_000 + n)
                sent = self.now()
                try:
                    response = await client.request(method, path, json=body)
                    status = response.status_code
                    problem = response.headers.get("content-type", "").startswith("application/problem+json")
                    error = None
                except httpx.HTTPError as failure:
                    status, problem, error = 0, False, type(failure).__name__
                self.answers.append(
                    Answer(sent, kind, status, problem, self.now() - sent, (body or {}).get("title"), error)
                )
                await asyncio.sleep(0.02)

    def run(self, clients: dict[str, int]) -> "asyncio.Task[list[None]]":
        self.started = time.monotonic()
        return asyncio.ensure_future(
            asyncio.gather(
                *(
                    self._client(kind, self.requests[kind], index)
                    for kind, count in clients.items()
                    for index in range(count)
                )
            )
        )

    def between(self, start: float, end: float) -> list[Answer]:
        return [answer for answer in self.answers if start <= answer.at < end]


def unique_title() -> str:
    return f"Fault test {uuid.uuid4().hex[:12]}"


def publish(author: str) -> Callable[[int], tuple[str, str, dict | None]]:
    """The write of the load: a published article with a title of its own."""
    return lambda n: (
        "POST", "/v1/articles",
        {"title": unique_title(), "body_markdown": "Body.", "author": author, "status": "published"},
    )


async def with_outage(
    load: Load,
    clients: dict[str, int],
    stop: Callable[[], None],
    start: Callable[[], None],
    *,
    outage: float,
    recovery: float,
) -> tuple[float, float, float]:
    """Runs the load, 3 s in `stop()`s a server, `start()`s it `outage` seconds later,
    then keeps the load up `recovery` + 4 seconds; when it was down, when its restart
    began and when it answered again."""
    running = load.run(clients)
    await asyncio.sleep(3)
    await asyncio.to_thread(stop)
    # Once it is down: stopping takes a moment, in which the server still answers.
    down_at = load.now()
    await asyncio.sleep(outage)
    restart_at = load.now()
    await asyncio.to_thread(start)
    up_at = load.now()
    await asyncio.sleep(recovery + 4)
    load.stopping = True
    await running
    return down_at, restart_at, up_at


def summary(answers: list[Answer]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for answer in answers:
        key = f"{answer.kind} {answer.status or answer.error}"
        counted[key] = counted.get(key, 0) + 1
    return dict(sorted(counted.items()))
