"""Starting a uvicorn server for one measurement, and watching its memory."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name in field 2 may hold spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    workers: int
    peak_rss_kib: int = 0
    cpu_used: float = 0.0
    _sampling: bool = field(default=False, repr=False)

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself, or its worker children."""
        if self.workers == 1:
            return [self.process.pid]
        return _children(self.process.pid) or [self.process.pid]

    @contextmanager
    def sample_rss(self, every: float = 0.2) -> Iterator[None]:
        """Peak resident memory of any one serving process while the block runs, and the
        CPU time the serving processes used (a cost per request that CPU contention from
        other work on the machine does not distort the way it distorts req/s)."""
        self.peak_rss_kib = 0
        self._sampling = True

        def poll() -> None:
            while self._sampling:
                for pid in self.worker_pids():
                    self.peak_rss_kib = max(self.peak_rss_kib, rss_kib(pid))
                time.sleep(every)

        thread = threading.Thread(target=poll, daemon=True)
        pids = self.worker_pids()
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        thread.start()
        try:
            yield
        finally:
            self._sampling = False
            thread.join()
            self.cpu_used = sum(cpu_seconds(pid) for pid in pids) - cpu_before


@contextmanager
def serve(target: str, *, env: dict[str, str], workers: int = 1, factory: bool = True) -> Iterator[Server]:
    """Runs `uvicorn target` as the CLI's `serve` does (uvloop, httptools), without access logs."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
    ]
    if factory:
        command.append("--factory")
    url = f"http://127.0.0.1:{port}"
    # Links in responses are built on PUBLIC_API_URL: the address served.
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env={**os.environ, "PUBLIC_API_URL": url, **env}, stdout=subprocess.DEVNULL
    )
    server = Server(url=url, process=process, workers=workers)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: Server, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}")
        try:
            httpx.get(server.url + "/healthz", timeout=1.0)
            # Every worker must be listening before the clock starts.
            if server.workers == 1 or len(_children(server.process.pid)) >= server.workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def prime_cache(server: Server, paths: Path, header: tuple[str, str] | None = None) -> None:
    """Requests every distinct path once, so that the shared cache holds them all."""
    headers = dict([header]) if header else {}
    with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
        for path in dict.fromkeys(paths.read_text().split()):
            client.get(path)


def wait_until_idle(server: Server, *, limit: float = 60.0) -> None:
    """Waits (up to `limit` s) until the server stops working off the previous workload."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in server.worker_pids())
        time.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in server.worker_pids()) - before < 0.05:
            return
