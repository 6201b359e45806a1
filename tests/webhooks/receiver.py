"""A real HTTP receiver on 127.0.0.1 for webhook tests (and the benchmark): a small
HTTP/1.1 server on asyncio's streams, answering each request as its script says."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the body was in


@dataclass
class Answer:
    status: int = 204
    delay: float = 0  # seconds before answering
    headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False  # a chunked body that never ends


OK = Answer()


class Receiver:
    """`script(path, n)` answers the n-th request (from 0) to `path`; default 204."""

    def __init__(self, script: Callable[[str, int], Answer] | None = None) -> None:
        self.script = script or (lambda _path, _n: OK)
        self.received: list[Received] = []
        self.server: asyncio.Server | None = None
        self.arrived = asyncio.Event()
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    async def __aenter__(self) -> "Receiver":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                path = request_line.split(" ")[1]
                answer = self.script(path, len(self.to(path)))
                self.received.append(Received(path, headers, body, time.monotonic()))
                self.arrived.set()
                if answer.delay:
                    await asyncio.sleep(answer.delay)
                await self._answer(writer, answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, answer: Answer) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
        if not answer.endless:
            writer.write(f"HTTP/1.1 {answer.status} X\r\ncontent-length: 0\r\n{extra}\r\n".encode())
            await writer.drain()
            return
        writer.write(f"HTTP/1.1 {answer.status} X\r\ntransfer-encoding: chunked\r\n{extra}\r\n".encode())
        chunk = b"x" * 16384
        while True:  # until the client hangs up
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
