"""The application factory: settings in, a configured FastAPI app out."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api_keys.router import router as api_keys_router
from app.articles.router import router as articles_router
from app.authors.router import router as authors_router
from app.caching.http import add_conditional_get
from app.comments.router import router as comments_router
from app.caching.content import ContentCache, refreshing
from app.caching.middleware import SharedCacheMiddleware
from app.caching.shared import SharedCache
from app.changes.router import router as changes_router
from app.cors import ProblemCORSMiddleware
from app.db import ReadDatabase, create_engine, create_read_sessionmaker, create_sessionmaker, utcnow
from app.discovery import router as discovery_router
from app.docs_pages import add_docs_pages
from app.logs import configure_logging
from app.feeds.router import router as feeds_router
from app.metrics import router as metrics_router
from app.middleware import HeadAsGetMiddleware, RequestIdMiddleware, RequestLimitsMiddleware
from app.openapi import install_openapi
from app.newsletters.router import router as newsletters_router
from app.observation import RequestObservationMiddleware
from app.overload import LoadSheddingMiddleware
from app.operations import router as operations_router
from app.pagination import CursorCodec
from app.readers.router import router as readers_router
from app.problems import add_exception_handlers
from app.ratelimit import RateLimiter, create_storage
from app.settings import Settings, get_settings
from app.stream.feed import ChangeFeed
from app.changes.notify import notifications_for
from app.stream.router import router as stream_router
from app.subscriptions.admin_router import router as subscribers_router
from app.subscriptions.router import router as subscriptions_router
from app.tags.router import router as tags_router
from app.tickers.router import router as tickers_router
from app.webhooks.router import router as webhooks_router
from app.webhooks.targets import system_resolver

ROUTERS = [
    discovery_router,
    articles_router,
    comments_router,
    readers_router,
    authors_router,
    tickers_router,
    tags_router,
    changes_router,
    stream_router,
    feeds_router,
    newsletters_router,
    subscriptions_router,
    subscribers_router,
    api_keys_router,
    webhooks_router,
    operations_router,
    metrics_router,
]


def camel_case_operation_id(route: APIRoute) -> str:
    """`list_articles` → `listArticles`: stable ids for generated clients."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.read_sessionmaker = create_read_sessionmaker(engine)
        app.state.reads = ReadDatabase(engine)
        # Everything alive now (modules, models, routes, compiled schemas) lives as long as
        # the process: out of the collector's sight, a full collection no longer walks it.
        # It did every few seconds under load and stalled all requests in flight: W1's p99
        # with the shared cache went from 111 ms to 12 ms (issue 5).
        feed = app.state.change_feed = ChangeFeed(
            settings, notifications_for(settings), reads=app.state.reads, sessionmaker=app.state.sessionmaker,
            clock=app.state.clock,
        )
        await feed.start()
        app.state.content_cache.changes_logged = feed.logged
        gc.freeze()
        try:
            async with refreshing(app.state.content_cache, app.state.reads, app.state.clock):
                yield
        finally:
            app.state.content_cache.changes_logged = None
            await feed.close()
        await engine.dispose()
        await app.state.content_cache.close()
        await app.state.rate_limiter.close()

    app = FastAPI(
        title="tickerfeed",
        version="1.0.0",
        summary="Markets news: articles, authors, tickers, tags, newsletters and feeds.",
        lifespan=lifespan,
        generate_unique_id_function=camel_case_operation_id,
        # Served by add_docs_pages from packaged assets instead of a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = utcnow
    app.state.content_cache = ContentCache(SharedCache.from_settings(settings))
    app.state.cursor_codec = CursorCodec(settings.secret_key)
    # How webhook URLs are resolved when checked (tests point names where they like).
    app.state.webhook_resolver = system_resolver
    app.state.rate_limiter = RateLimiter(create_storage(settings))
    add_exception_handlers(app)
    add_conditional_get(app)
    install_openapi(app)
    add_docs_pages(app)
    for router in ROUTERS:
        app.include_router(router)

    app.add_middleware(SharedCacheMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_path_bytes=settings.max_path_bytes,
        max_query_string_bytes=settings.max_query_string_bytes,
    )
    # Outside the limits and the cache, so that past capacity a refusal costs little; inside
    # CORS, so that a browser can read the 503 and its Retry-After.
    app.add_middleware(LoadSheddingMiddleware, max_in_flight=settings.max_requests_in_flight)
    app.add_middleware(
        ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match", "If-Modified-Since", "X-Request-ID"],
        expose_headers=["ETag", "Link", "Location", "Retry-After", "X-Request-ID"],
        max_age=600,
    )
    # Outside everything but the request id: it counts and logs CORS and limit refusals and
    # cache hits too, with the id.
    app.add_middleware(RequestObservationMiddleware)
    # Added last, so it runs first: every response, including CORS and limit refusals, has an id.
    app.add_middleware(RequestIdMiddleware)
    return app
