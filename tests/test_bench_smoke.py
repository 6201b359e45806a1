"""The benchmark harness still works end to end (issue 5): a tiny SQLite dataset, the real
servers, one short round per workload. It measures nothing; `python -m bench run` does."""

from pathlib import Path

from bench.runner import Options, run


def test_harness_runs_every_workload_on_a_tiny_dataset(tmp_path: Path) -> None:
    options = Options(
        size="tiny", backend="sqlite", data_dir=tmp_path, results_dir=tmp_path / "results",
        warmup=0, duration=0.2, workers=(), use_wrk=False,
    )

    report = run(options).read_text()

    for name in ("(a)", "(b)", "(c)", "W1", "W2", "W3", "W4", "W5", "W6", "W7"):
        assert f"| {name} |" in report
    # Both modes ran: the test machine has Redis, as CI's does.
    assert "## Workloads, no shared cache" in report
    assert "## Workloads with the shared cache (Redis)" in report
    workload_rows = [line for line in report.splitlines() if line.startswith("| W") and line[3].isdigit() and "skipped" not in line]
    assert len(workload_rows) >= 5
    for line in workload_rows:
        errors = line.split("|")[6].strip()
        assert errors == "0", line
