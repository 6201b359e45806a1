"""The benchmark harness still works end to end (issue 5): a tiny SQLite dataset, the real
servers, one short round per workload. It measures nothing; `python -m bench run` does."""

import sqlite3
from pathlib import Path

from bench.dataset import SIZES
from bench.runner import Options, run


def test_harness_runs_every_workload_on_a_tiny_dataset(tmp_path: Path) -> None:
    options = Options(
        size="tiny", backend="sqlite", data_dir=tmp_path, results_dir=tmp_path / "results",
        warmup=0, duration=0.2, workers=(), use_wrk=False,
    )

    report = run(options).read_text()

    for name in ("(a)", "(b)", "(c)", "W1", "W2", "W2-long", "W3", "W4", "W5", "W6", "W7"):
        assert f"| {name} |" in report
    # Both modes ran: the test machine has Redis, as CI's does.
    assert "## Workloads, no shared cache" in report
    assert "## Workloads with the shared cache (Redis)" in report
    assert report.count("| W2-long |") == 2
    workload_rows = [
        line for line in report.splitlines()
        if line.startswith("| W") and line[3].isdigit() and "skipped" not in line and not line.startswith("| W8")
    ]
    assert len(workload_rows) >= 5
    for line in workload_rows:
        errors = line.split("|")[6].strip()
        assert errors == "0", line
    _assert_publish_storm_ran(report)
    # W8 took its articles, edits and key back out: the next run finds the same dataset.
    with sqlite3.connect(tmp_path / "tickerfeed_bench_tiny.db") as db:
        assert db.execute("SELECT count(*) FROM article").fetchone() == (SIZES["tiny"].articles,)
        assert db.execute("SELECT count(*) FROM article WHERE dek LIKE '%W8 writer%'").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM api_key").fetchone() == (0,)


def _assert_publish_storm_ran(report: str) -> None:
    """W8 in its reduced form (httpx, 0.2 s): the writer's first publish and edit, each
    publish found in the feeds by the next request."""
    assert "## W8 publish storm, with the shared cache (Redis)" in report
    assert "| mix, no writer |" in report
    row = next(line for line in report.splitlines() if line.startswith("| W8, with writer |"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    errors, published, edited, visible = cells[4], cells[7], cells[8], cells[9]
    assert errors == "0", row
    assert published == "1/1", row
    assert edited == "1/1", row
    assert visible == "1/1 (100%)", row
