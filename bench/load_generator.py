"""Driving load: `wrk` when installed, or a short httpx round (plumbing checks only)."""

import asyncio
import json
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

LUA_SCRIPT = Path(__file__).with_name("lua") / "paths.lua"
WRK_HINT = "wrk is not installed: apt-get update && apt-get install -y wrk  (Debian/Ubuntu package `wrk`)"


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    base_url: str, paths_file: Path, *, seconds: float, connections: int = 32, threads: int = 2,
    header: tuple[str, str] | None = None,
) -> Result:
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", str(LUA_SCRIPT), base_url, "--", str(paths_file), *(header or ()),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(data[key] for key in ("connect", "read", "write", "status", "timeout"))
    return Result(
        requests=data["requests"], seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000, errors=errors,
    )


def run_httpx(
    base_url: str, paths_file: Path, *, seconds: float, connections: int = 4,
    header: tuple[str, str] | None = None,
) -> Result:
    """A small concurrent round without wrk: enough to prove the plumbing, not to measure."""
    paths = [line for line in paths_file.read_text().splitlines() if line]
    headers = dict([header]) if header else {}

    async def main() -> Result:
        latencies: list[float] = []
        errors = 0
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=5.0) as client:
            deadline = time.monotonic() + seconds

            async def worker() -> None:
                nonlocal errors
                while not latencies or time.monotonic() < deadline:
                    started = time.perf_counter()
                    try:
                        response = await client.get(random.choice(paths))
                        if response.status_code >= 400:
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - started)

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.monotonic() - started
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
        return Result(len(latencies), elapsed, pick(0.5), pick(0.99), errors)

    return asyncio.run(main())
