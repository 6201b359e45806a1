"""Prometheus metrics (issue 13, item 3): what every process counts, and `GET /metrics`.

Counters and histograms live in prometheus-client's default registry. With
`PROMETHEUS_MULTIPROC_DIR` set (`tickerfeed serve --workers N` sets it up) each process
writes its values to files there and a scrape, answered by any one process, adds them all
up; prometheus-client picks its storage when it is first imported, so the directory must be
named before that (`app.cli` imports this module only once `serve` has decided).

Outbox gauges are not counted as things happen: the scraping process asks the database,
one cheap query per kind of outbox (`OUTBOX_KINDS`), so every process agrees and a worker
that died leaves no stale value behind.

Every label value comes from a bounded set: route templates (never raw paths), methods
from a fixed list, statuses, limit names, outbox kinds and outcomes named in the code.
"""

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.caching.http import NO_STORE, http_cache
from app.models import OutboundEmail, WebhookEvent
from app.problems import problem_response
from app.webhooks.fanout import PENDING

logger = logging.getLogger("tickerfeed.metrics")
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# A path no route matches (a 404, or a request refused before routing) is counted under this
# one label value: a scanner trying random paths must not create a time series per path.
UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

REQUESTS = Counter(
    "tickerfeed_http_requests", "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "tickerfeed_http_request_duration_seconds", "Time to answer a request, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SHARED_CACHE_LOOKUPS = Counter(
    "tickerfeed_shared_cache_lookups",
    "Shared-cache look-ups by outcome: hit, miss, error (Redis failed), unavailable (skipped after a failure).",
    ["outcome"],
)
SHARED_CACHE_ERRORS = Counter(
    "tickerfeed_shared_cache_errors", "Shared-cache operations Redis failed, by operation.", ["operation"],
)
DELIVERIES = Counter(
    "tickerfeed_outbox_deliveries",
    "Delivery attempts recorded, by outbox kind and outcome (sent, retried, failed, skipped).",
    ["kind", "outcome"],
)
REQUESTS_SHED = Counter(
    "tickerfeed_http_requests_shed", "Requests refused with a 503 because the process was at max_requests_in_flight.",
)
RATE_LIMIT_REFUSALS = Counter(
    "tickerfeed_rate_limit_refusals", "Requests refused with a 429, by limit.", ["limit"],
)


@contextlib.contextmanager
def metrics_directory(workers: int) -> Iterator[None]:
    """Multi-process mode for `serve`. A PROMETHEUS_MULTIPROC_DIR named by the deployment is
    emptied first (prometheus-client's rule: values of an earlier run would be added in);
    without one, several workers get a temporary directory, removed when they have stopped;
    one worker counts in its own memory."""
    named = os.environ.get(MULTIPROCESS_DIRECTORY)
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        for stale in Path(named).glob("*.db"):
            stale.unlink()
        yield
        return
    if workers == 1:
        yield
        return
    folder = tempfile.mkdtemp(prefix="tickerfeed-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIRECTORY]
        shutil.rmtree(folder, ignore_errors=True)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method_label(method)
    REQUESTS.labels(route, method, str(status)).inc()
    REQUEST_DURATION.labels(route, method).observe(seconds)


def count_deliveries(kind: str, outcomes: dict[str, int]) -> None:
    """`outcomes` maps an outcome (sent, retried, failed, skipped) to how many; zeros too,
    so every series exists from a kind's first batch on."""
    for outcome, number in outcomes.items():
        DELIVERIES.labels(kind, outcome).inc(number)


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    oldest: datetime | None


# What a scrape asks about one kind of outbox: rows waiting or in flight, and the oldest.
OutboxProbe = Callable[[AsyncConnection], Awaitable[OutboxStats]]
OUTBOX_KINDS: dict[str, OutboxProbe] = {}


def register_outbox(kind: str, probe: OutboxProbe) -> None:
    """Adds a kind of outbox to the depth and age gauges (webhooks add theirs by name)."""
    OUTBOX_KINDS[kind] = probe


async def mail_outbox(connection: AsyncConnection) -> OutboxStats:
    # Pending rows only, found through ix_outbound_email_status_next_attempt_at.
    row = (
        await connection.execute(
            select(func.count(), func.min(OutboundEmail.created_at)).where(
                OutboundEmail.status.in_(("queued", "sending"))  # type: ignore[attr-defined]
            )
        )
    ).one()
    return OutboxStats(depth=row[0], oldest=row[1])


async def webhook_outbox(connection: AsyncConnection) -> OutboxStats:
    # Events waiting for their endpoint (`app.webhooks.fanout`).
    row = (
        await connection.execute(
            select(func.count(), func.min(WebhookEvent.created_at)).where(WebhookEvent.status == PENDING)  # type: ignore[arg-type]
        )
    ).one()
    return OutboxStats(depth=row[0], oldest=row[1])


register_outbox("mail", mail_outbox)
register_outbox("webhook", webhook_outbox)


class Collected:
    """Metric families computed before the scrape (the outbox gauges), for a registry."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


class ThisProcess:
    """The default registry's metrics, in a registry of one scrape."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


async def outbox_families(reads: object, now: datetime) -> list[Metric]:
    depth = GaugeMetricFamily(
        "tickerfeed_outbox_depth", "Outbox rows waiting or being delivered, by kind.", labels=["kind"]
    )
    age = GaugeMetricFamily(
        "tickerfeed_outbox_oldest_age_seconds",
        "Age of the oldest outbox row waiting or being delivered, by kind (0 when none).",
        labels=["kind"],
    )
    async with reads.connect() as connection:  # type: ignore[attr-defined]
        for kind, probe in OUTBOX_KINDS.items():
            stats = await probe(connection)
            depth.add_metric([kind], stats.depth)
            age.add_metric([kind], max(0.0, (now - stats.oldest).total_seconds()) if stats.oldest else 0.0)
    return [depth, age]


def exposition(extra: Iterable[Metric]) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        MultiProcessCollector(registry)
    else:
        registry.register(ThisProcess())  # type: ignore[arg-type]
    registry.register(Collected(extra))  # type: ignore[arg-type]
    return generate_latest(registry)


router = APIRouter()


def is_metrics_request(request: Request) -> bool:
    """With METRICS_PORT set, /metrics is answered on that port only (and nothing else is)."""
    port = request.app.state.settings.metrics_port
    return port is None or (request.scope.get("server") or (None, None))[1] == port


def authorized(request: Request) -> bool:
    token = request.app.state.settings.metrics_token
    if token is None:
        return True
    sent = request.headers.get("authorization", "")
    return secrets.compare_digest(sent.encode(), f"Bearer {token}".encode())


# Not in the OpenAPI document: it is for Prometheus, not API clients; it may live on another
# port (METRICS_PORT), and its text format is Prometheus's to describe, not ours.
@router.get("/metrics", include_in_schema=False, dependencies=[http_cache(NO_STORE)])
async def get_metrics(request: Request) -> Response:
    if not is_metrics_request(request):
        raise HTTPException(404)
    if not authorized(request):
        response = problem_response(request, 401, "A metrics token is required.", kind="unauthorized")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        families = await outbox_families(request.app.state.reads, request.app.state.clock())
    except Exception:  # the database is down: the request metrics matter most then
        logger.warning("outbox gauges left out of the scrape: the database did not answer")
        families = []
    return Response(exposition(families), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
