"""`python -m bench run --size 10k|1m [--backend sqlite]`: see bench/README.md."""

import argparse
import os
from pathlib import Path

from bench import dataset
from bench.runner import Options, run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="load the dataset if needed, then run every workload")
    load_parser = commands.add_parser("load", help="(re)load the dataset only")
    for sub in (run_parser, load_parser):
        sub.add_argument("--size", choices=sorted(dataset.SIZES), default="10k")
        sub.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
        sub.add_argument(
            "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", Options.postgres_url),
            help="server URL without a database name (env BENCH_POSTGRES_URL)",
        )
    run_parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", Options.redis_url),
        help="Redis for the servers' rate limits and the shared-cache workloads (env BENCH_REDIS_URL)",
    )
    run_parser.add_argument("--reload", action="store_true", help="reload the dataset even if present")
    run_parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    run_parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each")
    run_parser.add_argument("--workers", default="1,2,4", help="worker counts for the W1 scaling run")
    run_parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3,scale")
    run_parser.add_argument("--no-wrk", action="store_true", help="use a short httpx round instead of wrk")
    run_parser.add_argument("--results-dir", type=Path, default=Options.results_dir)
    args = parser.parse_args()
    if args.backend == "sqlite" and args.size == "1m":
        parser.error("the 1m dataset is PostgreSQL only")
    options = Options(size=args.size, backend=args.backend, postgres_url=args.postgres_url)
    if args.command == "load":
        from bench.load import load

        load(options.database_url(), dataset.SIZES[args.size])
        return
    options.reload = args.reload
    options.duration = args.duration
    options.warmup = args.warmup
    options.workers = tuple(int(n) for n in args.workers.split(",") if n)
    options.only = tuple(name for name in args.only.split(",") if name)
    options.use_wrk = not args.no_wrk
    options.results_dir = args.results_dir
    options.redis_url = args.redis_url
    run(options)


if __name__ == "__main__":
    main()
