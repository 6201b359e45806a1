"""The results as a Markdown document: machine, ceilings, workloads, scaling, W8, notes."""

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.load_generator import Result
from bench.storm import TARGET, Storm, StormRun


@dataclass
class Row:
    name: str
    description: str
    result: Result | None
    peak_rss_kib: int = 0
    ceiling: float | None = None  # req/s of the ceiling this row is compared with
    target: str = ""
    note: str = ""
    cpu_ms: float = 0.0  # server CPU time per request


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    return [
        f"- CPU: {os.cpu_count()} × {cpu} (shared with the load generator and other work)",
        f"- RAM: {mem_kib / 1024 / 1024:.1f} GiB",
        f"- Python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"- commit {commit or '?'}",
    ]


def _cell(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| Workload | What | req/s | p50 ms | p99 ms | errors | peak RSS MB | server CPU ms/req | ratio | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if row.result is None:
            lines.append(f"| {row.name} | {row.description} | skipped: {row.note} | | | | | | | {row.target} |")
            continue
        r = row.result
        if r.requests == 0:
            lines.append(
                f"| {row.name} | {row.description} | 0 | — | — | every request: none answered within "
                f"the run | {_cell(row.peak_rss_kib / 1024)} | — | 0% | {row.target} |"
            )
            continue
        ratio = f"{r.rps / row.ceiling:.0%}" if row.ceiling else "—"
        lines.append(
            f"| {row.name} | {row.description} | {_cell(r.rps, 0)} | {_cell(r.p50_ms, 2)} | {_cell(r.p99_ms, 2)} | "
            f"{r.errors} | {_cell(row.peak_rss_kib / 1024)} | {_cell(row.cpu_ms, 2)} | {ratio} | {row.target} |"
        )
    return lines


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def storm_table(storm: Storm) -> list[str]:
    """W8: the mix without and with the writer, the writes, and what the next reader saw."""
    if storm.skipped:
        return [f"Skipped: {storm.skipped}."]
    w = storm.writes
    hits_from = "counted in the server" if storm.storm is None or storm.storm.hits is not None else (
        "Redis keyspace hits / (hits + misses), the whole Redis server")
    lines = [
        f"Mix: {storm.mix}. Writer: one `POST /v1/articles` (published, 1–3 tickers) at every whole second "
        "and one `PATCH` of an old article's dek half a second later, through the same server's API.",
        "",
        f"| Run | req/s | p50 ms | p99 ms | errors | served from the cache ({hits_from}) | ratio to no writer "
        "| published (201) | edited (200) | visible on next request | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def cells(run: StormRun) -> str:
        r = run.result
        return (f"{_cell(r.rps, 0)} | {_cell(r.p50_ms, 2)} | {_cell(r.p99_ms, 2)} | {r.errors} | "
                f"{_percent(run.hit_ratio)}")

    if storm.baseline:
        lines.append(f"| mix, no writer | {cells(storm.baseline)} | — | — | — | — | |")
    if storm.storm:
        visible = f"{w.visible}/{w.acknowledged} ({w.visible / w.acknowledged:.0%})" if w.acknowledged else "0/0"
        lines.append(
            f"| W8, with writer | {cells(storm.storm)} | {_percent(storm.ratio)} | {w.acknowledged}/{w.publishes} "
            f"| {w.edited}/{w.edits} | {visible} | {TARGET}: {'met' if storm.met else 'missed'} |"
        )
    notes = list(storm.notes)
    if w.latencies_ms:
        ordered = sorted(w.latencies_ms)
        notes.append(f"Write latency (POST and PATCH): median {ordered[len(ordered) // 2]:.1f} ms, "
                     f"max {ordered[-1]:.1f} ms.")
    for run, label in ((storm.baseline, "no writer"), (storm.storm, "with writer")):
        if run:
            notes.append(f"Redis INFO over the run ({label}, the whole Redis server; every look-up also reads "
                         f"the state hash): keyspace hits +{run.redis_hits:,}, misses +{run.redis_misses:,}.")
    notes += [f"Write problem: {problem}" for problem in w.problems[:5]]
    if len(w.problems) > 5:
        notes.append(f"… and {len(w.problems) - 5} more write problems.")
    return lines + ([""] + [f"- {note}" for note in notes] if notes else [])


def document(
    *, size: str, backend: str, database: str, load_tool: str, sections: list[tuple[str, list[Row]]],
    notes: list[str], storm: Storm | None = None,
) -> str:
    now = datetime.now(UTC)
    out = [
        f"# tickerfeed benchmark: {size} articles on {backend}",
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC with {load_tool}, 32 connections on loopback, one uvicorn worker "
        "(uvloop, httptools) unless stated. Ratios are to ceiling (b) measured in the same run.",
        "",
        *machine(),
        f"- Database: {database}",
        "",
    ]
    for title, rows in sections:
        out += [f"## {title}", "", *table(rows), ""]
    if storm is not None:
        out += ["## W8 publish storm, with the shared cache (Redis)", "", *storm_table(storm), ""]
    if notes:
        out += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    return "\n".join(out)
