"""uvicorn's httptools protocol with a bound on the request target.

uvicorn parses the target with http-parser's `http_parser_parse_url`, whose offsets are
16-bit: past 64 KiB it fails and uvicorn answers a plain-text 400 before the app sees the
request (issue 11). Here a target longer than `MAX_REQUEST_TARGET_BYTES` is kept no further
(so its size costs no memory), handed to the app as the stand-in path `/` and marked, and
`RequestLimitsMiddleware` answers the 414 problem document with the usual headers.

Run with `tickerfeed serve`, or `uvicorn --http app.serving:BoundedTargetHttpToolsProtocol`.

Also the server `tickerfeed serve` runs: it drains before it shuts down (`DrainingServer`).
"""

import logging
import signal
import socket
import sys
import threading
import time
from types import FrameType

import uvicorn
from uvicorn.main import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import multiprocess


logger = logging.getLogger("tickerfeed.serving")

# Below http-parser's 65,535, and far above any target the API answers (paths are at most
# MAX_PATH_BYTES, query strings MAX_QUERY_STRING_BYTES, both settings of a few KiB at most).
MAX_REQUEST_TARGET_BYTES = 60_000
# A key of the ASGI scope: set when the target was longer than the protocol keeps.
TARGET_TOO_LONG = "tickerfeed.target_too_long"
STAND_IN_TARGET = b"/"


class BoundedTargetHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.target_too_long = False

    def on_url(self, url: bytes) -> None:
        # The parser may hand the target over in pieces, as the bytes arrive.
        if self.target_too_long:
            return
        if len(self.url) + len(url) > MAX_REQUEST_TARGET_BYTES:
            self.target_too_long = True
            self.url = b""
            return
        self.url += url

    def on_headers_complete(self) -> None:
        if self.target_too_long:
            self.url = STAND_IN_TARGET
            self.scope[TARGET_TOO_LONG] = True  # type: ignore[literal-required]
        super().on_headers_complete()


# Set once in a process, by its server on SIGTERM: from then on /readyz answers 503. Signals
# are per process, so this is too (each worker of `serve --workers N` drains on its own).
DRAINING = threading.Event()


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain before its graceful shutdown (issue 13, item 2).

    uvicorn stops accepting connections as soon as SIGTERM arrives, while the load balancer
    still sends requests until its readiness probe fails. Here the first SIGTERM (or SIGINT)
    only sets DRAINING for `drain_seconds`, requests still served; then uvicorn's shutdown
    runs: listening sockets closed, idle connections closed, requests in flight given
    `timeout_graceful_shutdown`, then the lifespan closes the pools. A second signal skips
    the rest of the drain. The process then exits 0 instead of re-raising the signal, as
    uvicorn does since 0.29, so a supervisor sees a clean exit.
    """

    def __init__(self, config: uvicorn.Config, *, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        DRAINING.set()
        if self.drain_until is None and self.drain_seconds > 0 and not self.should_exit:
            self.drain_until = time.monotonic() + self.drain_seconds
            logger.info("draining for %.1f s: /readyz answers 503, requests are still served", self.drain_seconds)
            return
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


class DrainingProcess(multiprocess.Process):
    """A worker of `serve --workers N`, running a DrainingServer; uvicorn's supervisor sends
    each worker SIGTERM when it gets one."""

    # Set in the supervisor by run_server; each instance carries it to its worker, pickled,
    # so the worker's health-check thread, which builds `server`, has no settings to import.
    drain_seconds = 0.0

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.drain_seconds = type(self).drain_seconds

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(self.config, drain_seconds=self.drain_seconds)
        return self._server


def run_server(config: uvicorn.Config, *, metrics_port: int | None, drain_seconds: float) -> None:
    """Serves on the configured port and, when given, `metrics_port` (the app answers
    /metrics there only), in this process or in `config.workers` worker processes."""
    sockets = [config.bind_socket()]
    if metrics_port is not None:
        sockets.append(uvicorn.Config(config.app, host=config.host, port=metrics_port).bind_socket())
    if config.workers > 1:
        # uvicorn's supervisor builds its workers from this module-level name.
        DrainingProcess.drain_seconds = drain_seconds
        multiprocess.Process = DrainingProcess  # type: ignore[misc]
        multiprocess.Multiprocess(config, sockets=sockets).run()
        return
    server = DrainingServer(config, drain_seconds=drain_seconds)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)
