"""Load shedding: a process answers at most `max_requests_in_flight` requests at once and
refuses the rest at once with a 503 problem and `Retry-After`, instead of queueing them.

Past its capacity a process that accepts everything only queues: every request waits
longer than the client will, memory grows with the queue, and the requests it finally
answers were given up on long ago. A refusal costs a fraction of an answer, so a process
offered twice what it can serve keeps serving its capacity at a bounded latency (the soak
test, `tests/faults/test_soak.py`). The bound is per process, which is what a process's
CPU and pool are; a load balancer sends a refused request's retry elsewhere.

Probes and metrics are never refused (an overloaded process is alive and ready: taking it
out of the balancer would move its load to the others), nor are streams, which stay open
for hours and have a cap of their own (`stream_max_clients`).
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.metrics import REQUESTS_SHED
from app.middleware import send_problem

NEVER_SHED = ("/healthz", "/readyz", "/metrics", "/v1/stream")
RETRY_AFTER_SECONDS = 1


class LoadSheddingMiddleware:
    def __init__(self, app: ASGIApp, *, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            REQUESTS_SHED.inc()
            await send_problem(
                scope, send, 503, "The server is at capacity; try again shortly.", "overloaded",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
