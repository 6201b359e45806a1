"""Time to queue and deliver one edition to N subscribers through a local SMTP catcher.

    .venv/bin/python bench/newsletter_send.py                       # 10,000 subscribers, SQLite
    .venv/bin/python bench/newsletter_send.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

It builds a fresh database (a temporary SQLite file unless --database-url is given; that
database is dropped and recreated, so never point it at data you keep), starts
`python -m aiosmtpd` with its discarding `Sink` handler as a separate process, and
reports the queue and delivery times.
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# A local run on the built-in secret, which settings accept only in development; the
# migrations and the deliverer processes read this too.
os.environ.setdefault("ENVIRONMENT", "development")

from app import migrations  # noqa: E402
from app.articles import service as articles_service  # noqa: E402
from app.articles.schemas import ArticleCreate  # noqa: E402
from app.authors import service as authors_service  # noqa: E402
from app.authors.schemas import AuthorCreate  # noqa: E402
from app.db import create_engine, create_sessionmaker  # noqa: E402
from app.mail.delivery import deliver_due  # noqa: E402
from app.models import Newsletter, Subscriber  # noqa: E402
from app.newsletters import sending  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.subscriptions import tokens  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def recreate_postgresql(url: str) -> None:
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    await admin.dispose()


async def seed(settings: Settings, subscribers: int, now: datetime) -> None:
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as session:
        session.add(Newsletter(slug="daily-headlines", name="Daily Headlines", time_zone="UTC"))
        author = await authors_service.create_author(
            session, data=AuthorCreate(slug="bench", name="Bench Writer", kind="human")
        )
        for n in range(12):
            await articles_service.create_article(
                session,
                data=ArticleCreate(
                    slug=f"story-{n}",
                    title=f"Story {n}: markets move",
                    dek="A short summary of the story.",
                    body_markdown="Body text. " * 50,
                    author=author.slug,
                    status="published",
                    published_at=now - timedelta(minutes=5 + n),
                ),
                site_url=settings.site_url,
                now=now,
            )
        await session.flush()
        newsletter_id = (await session.exec(text("SELECT id FROM newsletter"))).scalar_one()  # type: ignore[call-overload]
        rows = [
            {
                "email": f"reader{n}@example.com",
                "email_key": f"reader{n}@example.com",
                "status": "active",
                "token_nonce": tokens.new_nonce(),
                "requested_at": now,
                "consent_version": "bench",
                "confirmed_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(subscribers)
        ]
        for start in range(0, subscribers, 1000):
            await session.exec(insert(Subscriber).values(rows[start : start + 1000]))  # type: ignore[call-overload]
        await session.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO subscriber_newsletter (subscriber_id, newsletter_id) SELECT id, :n FROM subscriber"
            ),
            params={"n": newsletter_id},
        )
        await session.commit()
    await engine.dispose()


async def run(args: argparse.Namespace, database_url: str) -> None:
    port = free_port()
    catcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
    )
    try:
        settings = Settings(
            database_url=database_url,
            smtp_port=port,
            load_demo_content=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        now = datetime.now(UTC)
        await seed(settings, args.subscribers, now)
        time.sleep(0.5)
        engine = create_engine(settings)
        makers = create_sessionmaker(engine)

        started = time.perf_counter()
        async with makers() as session, session.begin():
            _, articles, queued = await sending.queue_edition(
                session,
                slug="daily-headlines",
                day=now.date().isoformat(),
                allow_empty=False,
                settings=settings,
                now=now,
            )
        queue_seconds = time.perf_counter() - started

        started = time.perf_counter()
        if args.processes == 1:
            report = await deliver_due(
                makers, settings, batch_size=args.batch_size, concurrency=args.concurrency
            )
            sent = report.sent
        else:
            deliverers(args, database_url, port)
            async with makers() as session:
                sent = (
                    await session.exec(
                        text("SELECT count(*) FROM outbound_email WHERE status = 'sent'")
                    )
                ).scalar_one()  # type: ignore[call-overload]
        deliver_seconds = time.perf_counter() - started
        await engine.dispose()

        backend = make_url(database_url).get_backend_name()
        print(
            f"backend {backend}; {articles} articles; batch {args.batch_size}; "
            f"{args.processes} deliverer process(es) x {args.concurrency} SMTP connections"
        )
        print(f"queued {queued} messages in {queue_seconds:.2f} s")
        print(
            f"delivered {sent} in {deliver_seconds:.2f} s = {sent / deliver_seconds:.0f} messages/s"
        )
        print(f"total {queue_seconds + deliver_seconds:.2f} s")
    finally:
        catcher.terminate()
        catcher.wait()


def deliverers(args: argparse.Namespace, database_url: str, port: int) -> None:
    """`tickerfeed newsletter deliver` in several processes at once, as a deployment would run it."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SMTP_PORT": str(port),
        "LOAD_DEMO_CONTENT": "false",
    }
    command = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "newsletter",
        "deliver",
        "--batch-size",
        str(args.batch_size),
        "--concurrency",
        str(args.concurrency),
    ]
    root = Path(__file__).resolve().parent.parent
    running = [
        subprocess.Popen(command, env=environment, cwd=root, stdout=subprocess.DEVNULL)
        for _ in range(args.processes)
    ]
    for process in running:
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="SMTP connections per deliverer process."
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="Deliverer processes running side by side."
    )
    parser.add_argument(
        "--database-url", help="PostgreSQL URL of a scratch database (dropped and recreated)."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        if url.startswith("postgresql"):
            asyncio.run(recreate_postgresql(url))
        migrations.upgrade(url)
        asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
