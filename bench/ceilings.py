"""The ceilings every workload is compared with, served by the same uvicorn settings.

(a) `raw_app`: a minimal ASGI app returning a constant body: the server's own limit.
(b) `create_prebuilt_app`: a FastAPI route returning the W1 body pre-built as bytes: the
    limit of the framework with no database, no validation and no serialization.
(c) the same FastAPI app's `/not-modified`: a constant 304, the ceiling for W6.
(d) `create_bare_driver_app` (PostgreSQL): a FastAPI route that runs the app's own W1
    page statement on a bare asyncpg pool and returns the JSON the database built, as is:
    the same database work with no code of ours around it, the ceiling for any page that
    reaches PostgreSQL.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Response

BODY_FILE_ENV = "BENCH_PREBUILT_BODY"
DATABASE_URL_ENV = "BENCH_DATABASE_URL"
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


def create_bare_driver_app() -> FastAPI:
    import asyncpg
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

    from app.articles.filters import FeedFilters, shape_of
    from app.articles.queries import feed_statement
    from app.caching.keys import list_keys
    from bench.load import asyncpg_dsn

    compiled = feed_statement(shape_of(FeedFilters(), dialect="postgresql", after=None)).compile(
        dialect=asyncpg_dialect.dialect()
    )
    sql = compiled.string
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The app's own pool size on PostgreSQL (`Settings.pool_size`).
        pools.append(await asyncpg.create_pool(asyncpg_dsn(os.environ[DATABASE_URL_ENV]), min_size=10, max_size=10))
        yield
        await pools[0].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/articles")
    async def page() -> Response:
        now = datetime.now(UTC)
        values = {"now": now, "limit": 21, "state_keys": list(list_keys()), "state_now": now}
        arguments = [values.get(name, compiled.params.get(name)) for name in compiled.positiontup or ()]
        async with pools[0].acquire() as connection:
            cards = await connection.fetchval(sql, *arguments)
        return Response(content=cards, media_type="application/json")

    return app
