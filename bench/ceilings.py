"""The ceilings every workload is compared with, served by the same uvicorn settings.

(a) `raw_app`: a minimal ASGI app returning a constant body: the server's own limit.
(b) `create_prebuilt_app`: a FastAPI route returning the W1 body pre-built as bytes: the
    limit of the framework with no database, no validation and no serialization.
(c) the same FastAPI app's `/not-modified`: a constant 304, the ceiling for W6.
"""

import os
from pathlib import Path

from fastapi import FastAPI, Response

BODY_FILE_ENV = "BENCH_PREBUILT_BODY"
HELLO = b'{"hello":"world"}'


async def raw_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] != "http":
        return
    await send({  # type: ignore[operator]
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(HELLO)).encode())],
    })
    await send({"type": "http.response.body", "body": HELLO})  # type: ignore[operator]


def create_prebuilt_app() -> FastAPI:
    body = Path(os.environ[BODY_FILE_ENV]).read_bytes()
    app = FastAPI()

    @app.get("/v1/articles")
    async def prebuilt() -> Response:
        return Response(content=body, media_type="application/json")

    @app.get("/not-modified")
    async def not_modified() -> Response:
        return Response(status_code=304, headers={"ETag": '"constant"'})

    return app
