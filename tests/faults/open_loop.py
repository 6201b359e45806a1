"""An open-loop load generator for the soak: requests are sent at a fixed rate whatever the
server's latency, as an audience arrives, over a bounded pool of keep-alive connections.

A closed loop (each client waits for its answer before asking again, as `wrk` and
`tests.faults.load` do) slows down with the server, so it can never offer more than the
server serves, and it hides queueing (coordinated omission). Here each request has a
scheduled time, its latency is counted from that time, and a request for which every
connection is busy is counted as not sent. HTTP/1.1 over plain asyncio streams: the
generator shares two cores with the server, and httpx would cost it several times the CPU.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

TIMEOUT = 10.0  # a request that takes this long counts as a hang
NOT_SENT = -1  # every connection was busy
NO_ANSWER = 0  # a timeout, or the connection failed


@dataclass(slots=True)
class Outcome:
    at: float  # when it was due, in seconds since the run started
    kind: str
    status: int
    seconds: float  # from when it was due to its answer
    problem_type: str | None = None
    error: str | None = None  # why there was no answer


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        return cls(*await asyncio.open_connection(host, port))

    async def exchange(self, request: bytes) -> Response:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding") == b"chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        return Response(status, headers, body)

    async def _chunked(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
            parts.append((await self.reader.readexactly(size + 2))[:-2])
        await self.reader.readuntil(b"\r\n")  # the end, with no trailers
        return b"".join(parts)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def http_request(method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def problem_type(response: Response) -> str | None:
    if not response.headers.get(b"content-type", b"").startswith(b"application/problem+json"):
        return None
    return str(orjson.loads(response.body).get("type"))


@dataclass
class LoadGenerator:
    host: str
    port: int
    # n -> (kind, the request's bytes)
    make: Callable[[int], tuple[str, bytes]]
    max_connections: int = 512
    outcomes: list[Outcome] = field(default_factory=list)
    idle: list[Connection] = field(default_factory=list)
    opened: int = 0
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.started

    async def _connection(self, *, fresh: bool = False) -> Connection | None:
        if self.idle and not fresh:
            return self.idle.pop()
        if self.opened >= self.max_connections:
            return None
        self.opened += 1
        try:
            return await Connection.open(self.host, self.port)
        except OSError:
            self.opened -= 1
            raise

    async def send(self, n: int, due: float) -> Outcome:
        kind, request = self.make(n)
        # A kept-alive connection the server closed while it was idle (uvicorn: after 5 s)
        # fails before any answer: the request is sent again on a new one, as HTTP clients do.
        for fresh in (False, True):
            reused = bool(self.idle) and not fresh
            try:
                connection = await self._connection(fresh=fresh)
            except OSError as error:
                return self._record(Outcome(due, kind, NO_ANSWER, self.now() - due, error=type(error).__name__))
            if connection is None:
                return self._record(Outcome(due, kind, NOT_SENT, 0.0))
            try:
                response = await asyncio.wait_for(connection.exchange(request), TIMEOUT)
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as error:
                connection.close()
                self.opened -= 1
                closed_while_idle = isinstance(error, (ConnectionResetError, asyncio.IncompleteReadError)) and not getattr(
                    error, "partial", b""
                )
                if not (reused and closed_while_idle):
                    return self._record(Outcome(due, kind, NO_ANSWER, self.now() - due, error=type(error).__name__))
        if response.headers.get(b"connection") == b"close":
            connection.close()
            self.opened -= 1
        else:
            self.idle.append(connection)
        return self._record(Outcome(due, kind, response.status, self.now() - due, problem_type(response)))

    def _record(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    async def open_loop(self, rate: float, seconds: float, *, tick: Callable[[float], None] | None = None) -> None:
        """`rate` requests a second for `seconds`, each at its due time; `tick(now)` is called
        about every 10 ms (the soak samples memory there)."""
        self.started = time.monotonic()
        in_flight: set[asyncio.Task[Outcome]] = set()
        n = 0
        while (now := self.now()) < seconds:
            while n < now * rate:
                task = asyncio.create_task(self.send(n, n / rate))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                n += 1
            if tick is not None:
                tick(now)
            await asyncio.sleep(0.01)
        await asyncio.gather(*in_flight)

    async def closed_loop(self, connections: int, seconds: float) -> None:
        """`connections` clients, each sending its next request when the last is answered."""
        self.started = time.monotonic()
        counter = iter(range(10**12))

        async def client() -> None:
            while self.now() < seconds:
                await self.send(next(counter), self.now())

        await asyncio.gather(*(client() for _ in range(connections)))

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()
