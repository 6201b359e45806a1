"""Pure ASGI middleware (Starlette's BaseHTTPMiddleware breaks streaming and contextvars)."""

import json
import re
import secrets

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import PROBLEM_MEDIA_TYPE, problem_body
from app.serving import TARGET_TOO_LONG

# A client-sent id is echoed only when it cannot smuggle anything into logs or headers.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def send_problem(
    scope: Scope, send: Send, status: int, detail: str, kind: str, *, retry_after: int | None = None
) -> None:
    """A problem answered before routing. The connection is closed after it when a request
    body may follow, which nothing read."""
    body = problem_body(status, detail, kind=kind, request_id=scope.get("state", {}).get("request_id"))
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if may_have_body(scope):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def may_have_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"


class RequestIdMiddleware:
    """Gives every request an id, echoes it in `X-Request-ID` and keeps it for logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if SANE_REQUEST_ID.match(sent) else secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class RequestLimitsMiddleware:
    """Refuses over-long paths and query strings (414) and bodies over the limit (413)
    before routing."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, max_path_bytes: int, max_query_string_bytes: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_path_bytes = max_path_bytes
        self.max_query_string_bytes = max_query_string_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_long = self._target_too_long(scope)
        if too_long:
            await send_problem(scope, send, 414, too_long, "uri-too-long")
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_problem(scope, send, 400, "Invalid Content-Length.", "bad-request")
                return
            if int(declared) > self.max_body_bytes:
                await self._too_large(scope, send)
                return
        await self._call_counting_body(scope, receive, send)

    def _target_too_long(self, scope: Scope) -> str | None:
        if scope.get(TARGET_TOO_LONG):
            return "The URL is too long."
        if len(scope.get("raw_path") or scope["path"].encode()) > self.max_path_bytes:
            return "The path is too long."
        if len(scope.get("query_string", b"")) > self.max_query_string_bytes:
            return "The query string is too long."
        return None

    async def _too_large(self, scope: Scope, send: Send) -> None:
        detail = f"The request body exceeds {self.max_body_bytes} bytes."
        await send_problem(scope, send, 413, detail, "body-too-large")

    async def _call_counting_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Chunked bodies have no Content-Length: count what arrives and stop at the limit.
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI re-raises HTTPException from body parsing; anything else becomes a 400.
                    raise HTTPException(413, f"The request body exceeds {self.max_body_bytes} bytes.")
            return message

        await self.app(scope, limited_receive, send)


# Set in the scope of a HEAD request answered as a GET: a stream answers it with its
# headers alone instead of streaming an endless body that would be dropped.
HEAD_REQUEST = "tickerfeed.head_request"


class HeadAsGetMiddleware:
    """Answers HEAD wherever GET is answered, with GET's headers and no body (RFC 9110 §9.3.2).

    FastAPI registers GET routes for GET only; feed readers and CDNs send HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD_REQUEST: True}, receive, send_without_body)
