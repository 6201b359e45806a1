"""The server as `tickerfeed serve` and the Docker image run it: uvicorn with the bounded
httptools protocol, on loopback. A URL of any length is answered with our 414 problem
document; without the bound, past 64 KiB uvicorn answered a plain-text 400 (issue 11)."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import uvicorn

from app.serving import BoundedTargetHttpToolsProtocol
from tests.mail_fixtures import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture
async def port(app: Any) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, http=BoundedTargetHttpToolsProtocol
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield port
    server.should_exit = True
    await serving


async def exchange(port: int, target: bytes, *, pieces: int = 1) -> tuple[bytes, dict[str, str], bytes]:
    """Sends one GET (its request line in `pieces` writes) and reads the whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    step = len(request) // pieces + 1
    for start in range(0, len(request), step):
        writer.write(request[start:start + step])
        await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return status_line.encode(), headers, body


class TestLongUrls:
    @pytest.mark.parametrize(
        ("target", "detail"),
        [
            (b"/v1/tickers/" + b"A" * 100_000, "The URL is too long."),
            (b"/v1/articles?q=" + b"a" * 100_000, "The URL is too long."),
            (b"/v1/tickers/" + b"A" * 30_000, "The path is too long."),
            (b"/v1/articles?q=" + b"a" * 30_000, "The query string is too long."),
        ],
    )
    async def test_is_a_414_problem_whatever_its_length(self, port, target, detail):
        status, headers, body = await exchange(port, target, pieces=7)

        assert status == b"HTTP/1.1 414 Request-URI Too Long"
        assert headers["content-type"] == "application/problem+json"
        assert headers["x-request-id"]
        assert json.loads(body) | {"request_id": None} == {
            "type": "/problems/uri-too-long", "title": "Request-URI Too Long", "status": 414,
            "detail": detail, "request_id": None,
        }

    async def test_short_urls_are_served_as_before(self, port):
        status, _, body = await exchange(port, b"/v1/tickers?q=N", pieces=3)

        assert status == b"HTTP/1.1 200 OK"
        assert json.loads(body)["items"] == []
