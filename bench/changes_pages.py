"""`python -m bench.changes_pages [--size 1m]`: `GET /v1/changes` pages per second (issue 12).

The benchmark database's articles were loaded before the changes log existed, so the
log's migration left each published one waiting to be logged at its `published_at`; the
first read logs them all (one change per article: a million at 1M). Then wrk asks for
pages of 100 changes after cursors spread over the whole log, with a `feeds:full` key,
against one worker with no shared cache, and the run prints req/s, p50 and p99.
"""

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app import migrations
from app.api_keys import service as keys_service
from app.api_keys.scopes import Scope
from app.changes.log import change, materialise_due
from app.db import utcnow
from app.pagination import CursorCodec, filter_scope
from bench.runner import SECRET, Bench, Options, app_env
from bench.server import serve

PAGE = 100


async def _prepare(url: str) -> tuple[int, int, str]:
    """Every due article logged; (changes, highest seq, a feeds:full key)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            started = time.perf_counter()
            if not await connection.scalar(text("SELECT count(*) FROM article_mirror_state")):
                # The bulk load wrote its articles past the log, as in a database older than
                # the log: each published one comes due at its published_at, as the log's
                # migration has it.
                await connection.execute(text(
                    "INSERT INTO article_mirror_state (article_id, visible, due_at, ticker_ids) "
                    "SELECT id, false, published_at, '[]'::json FROM article "
                    "WHERE status = 'published' AND deleted_at IS NULL AND published_at IS NOT NULL"
                ))
            if await connection.run_sync(lambda sync: materialise_due(sync, now=utcnow())):
                print(f"logged the due articles in {time.perf_counter() - started:.0f} s", flush=True)
            count, last = (await connection.execute(select(func.count(), func.max(change.c.seq)))).one()
        async with AsyncSession(engine) as session:
            _, key = await keys_service.create_key(session, name="bench changes", scopes=[Scope.FEEDS_FULL])
            await session.commit()
        return count, last or 0, key
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changes_pages", description=__doc__)
    parser.add_argument("--size", choices=["10k", "1m"], default="1m")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--redis-url", default=Options.redis_url)
    args = parser.parse_args()
    options = Options(size=args.size, duration=args.duration)
    url = options.database_url()
    migrations.upgrade(url)
    count, last, key = asyncio.run(_prepare(url))
    codec = CursorCodec(SECRET)
    rng = random.Random(7)
    cursors = [codec.encode([rng.randrange(0, max(last - PAGE, 1))], filter_scope("changes", tickers=[]))
               for _ in range(1000)]
    with tempfile.TemporaryDirectory(prefix="tickerfeed-bench-") as folder:
        bench = Bench(options, Path(folder))
        paths = bench.paths_file("changes", [f"/v1/changes?limit={PAGE}&cursor={cursor}" for cursor in cursors])
        env = app_env(url, redis_url=args.redis_url, shared_cache=False, prefix="bench-changes")
        with serve("app.main:create_app", env=env) as server:
            row = bench.row("changes", f"pages of {PAGE} after random cursors", server, paths,
                            ("Authorization", f"Bearer {key}"))
    result = row.result
    print(f"\n{count:,} changes (last seq {last:,}); GET /v1/changes?limit={PAGE}: {result.rps:,.0f} pages/s "
          f"({result.rps * PAGE:,.0f} changes/s), p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
          f"errors {result.errors}, server CPU {row.cpu_ms:.2f} ms/page, peak RSS {row.peak_rss_kib / 1024:.0f} MB")


if __name__ == "__main__":
    main()
