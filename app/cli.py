"""`tickerfeed` command line: serve, migrate, demo content, API keys, newsletters, mail and webhooks."""

import asyncio
import ipaddress
import os
import signal
from datetime import timedelta
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import uvicorn
from sqlmodel.ext.asyncio.session import AsyncSession

from app import migrations
from app.api_keys import service as keys_service
from app.articles.documents import refresh_stale_cards
from app.api_keys.scopes import Scope
from app.cli_errors import OneLineErrors
from app.db import create_engine, create_sessionmaker, utcnow
from app.demo.loader import is_empty, load_demo_content
from app.logs import configure_logging, protect_logs
from app.metrics import metrics_directory
from app.problems import Problem
from app.serving import BoundedTargetHttpToolsProtocol, run_server
from app.settings import get_settings

T = TypeVar("T")


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one committed transaction against the configured database."""

    async def run() -> T:
        engine = create_engine(get_settings())
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


# Where `serve` notes the address it serves on in development, for the commands run beside
# it (`newsletter send`, the mail catcher): their mail links then point at that server.
SERVED_URL_FILE = Path(".tickerfeed-served-url")


@click.group(name="tickerfeed", cls=OneLineErrors)
@click.version_option(package_name="tickerfeed", prog_name="tickerfeed", message="%(prog)s %(version)s")
@click.pass_context
def main(context: click.Context) -> None:
    """tickerfeed: the content API of a markets news site."""
    protect_logs()
    if context.invoked_subcommand != "serve":
        follow_served_address()


def is_development_without_api_url() -> bool:
    settings = get_settings()
    return settings.environment == "development" and "public_api_url" not in settings.model_fields_set


def follow_served_address() -> None:
    """In development without PUBLIC_API_URL, links point at the address `serve` last served on."""
    if SERVED_URL_FILE.exists() and is_development_without_api_url():
        os.environ["PUBLIC_API_URL"] = SERVED_URL_FILE.read_text().strip()
        get_settings.cache_clear()


def served_url(host: str, port: int) -> str:
    """The base URL of `host:port` as a browser on this machine reaches it."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:  # 0.0.0.0 or ::, every interface
        return f"http://localhost:{port}"
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def upgrade_database() -> None:
    """The schema's migrations, then the stored cards this code builds differently
    (`app.articles.documents`): data the code owns, not a migration."""
    settings = get_settings()
    migrations.upgrade(settings.database_url)

    async def rebuild() -> int:
        engine = create_engine(settings)
        try:
            return await refresh_stale_cards(engine.begin)
        finally:
            await engine.dispose()

    if rebuilt := asyncio.run(rebuild()):
        click.echo(f"rebuilt {rebuilt:,} stored cards")


@main.command()
def migrate() -> None:
    """Apply every database migration (creates the SQLite file when needed) and rebuild
    the stored cards an older version built."""
    upgrade_database()
    click.echo("database is at the latest revision")


@main.group()
def demo() -> None:
    """Demo content."""


@demo.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the database has no content yet.")
def demo_load(if_empty: bool) -> None:
    """Load the demo articles, authors, tickers, tags and newsletter."""
    site_url = get_settings().site_url

    async def load(session: AsyncSession) -> dict[str, int] | None:
        if if_empty and not await is_empty(session):
            return None
        return await load_demo_content(session, site_url=site_url)

    counts = in_transaction(load)
    click.echo("database already has content; nothing loaded" if counts is None else f"loaded {counts}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Migrate, load demo content into an empty database, and serve the API."""
    if is_development_without_api_url():
        # Links (`GET /v1`, mail) follow the address served; the workers inherit the environment.
        os.environ["PUBLIC_API_URL"] = served_url(host, port)
        SERVED_URL_FILE.write_text(os.environ["PUBLIC_API_URL"] + "\n")
        get_settings.cache_clear()
    settings = get_settings()
    upgrade_database()
    if settings.load_demo_content:
        demo_load.callback(if_empty=True)  # type: ignore[misc]
    base = served_url(host, port)
    click.echo(f"tickerfeed on {base}/v1/articles  (docs: {base}/docs, links: {settings.api_url})")
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # httptools, with a bound on the request target: past 64 KiB, a 414 problem document.
        http=BoundedTargetHttpToolsProtocol,
        # The client address is the app's to decide from TRUSTED_PROXIES (app/clients.py).
        proxy_headers=False,
        log_level=settings.log_level.lower(),
        # Our handler and format (LOG_FORMAT) for uvicorn's records too; the app writes one
        # line per request itself (app/observation.py), so uvicorn's access log is off.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # type: ignore[arg-type]
        # A spawned worker imports this command line (its parent's main module) before it can
        # answer the supervisor's health check: seconds on a busy machine, past uvicorn's 5.
        timeout_worker_healthcheck=30,
    )
    configure_logging(settings.log_level, settings.log_format)
    with metrics_directory(workers):
        run_server(config, metrics_port=settings.metrics_port, drain_seconds=settings.shutdown_drain_seconds)


@main.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key.")
@click.option(
    "--scope", "scopes", multiple=True, required=True,
    type=click.Choice([scope.value for scope in Scope]), help="Repeat for several scopes.",
)
def keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key and print it once; only its hash is stored."""

    async def create(session: AsyncSession) -> tuple[Any, str]:
        return await keys_service.create_key(session, name=name, scopes=[Scope(s) for s in scopes])

    api_key, plaintext = in_transaction(create)
    click.echo(f"id {api_key.id}, scopes {','.join(api_key.scopes)}")
    click.echo(plaintext)


@keys.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    for api_key in in_transaction(keys_service.list_keys):
        state = f"revoked {api_key.revoked_at:%Y-%m-%d}" if api_key.revoked_at else "active"
        click.echo(f"{api_key.id}\t{api_key.prefix}…\t{','.join(api_key.scopes)}\t{state}\t{api_key.name}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key by id."""

    async def revoke(session: AsyncSession) -> Any:
        return await keys_service.revoke_key(session, key_id=key_id)

    in_transaction(revoke)
    click.echo(f"revoked key {key_id}")


@main.group()
def newsletter() -> None:
    """Newsletter editions: queue them in the outbox and deliver them over SMTP."""


def _queue(slug: str, day: str | None, allow_empty: bool) -> tuple[str, int, int]:
    from app.newsletters import sending

    async def queue(session: AsyncSession) -> tuple[str, int, int]:
        return await sending.queue_edition(
            session, slug=slug, day=day, allow_empty=allow_empty, settings=get_settings(), now=utcnow()
        )

    try:
        return in_transaction(queue)
    except Problem as problem:
        raise click.ClickException(problem.detail) from problem


def _deliver(batch_size: int, concurrency: int) -> Any:
    from app.mail.delivery import deliver_due

    async def run() -> Any:
        settings = get_settings()
        engine = create_engine(settings)
        try:
            return await deliver_due(
                create_sessionmaker(engine), settings, batch_size=batch_size, concurrency=concurrency
            )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _summary(report: Any) -> str:
    return f"sent {report.sent}, retry later {report.retried}, failed {report.failed}, skipped {report.skipped}"


DAY_OPTION = click.option("--date", "day", help="YYYY-MM-DD in the newsletter's time zone; default today.")
EMPTY_OPTION = click.option("--allow-empty", is_flag=True, help="Queue even when the edition has no articles.")
BATCH_OPTION = click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 1000))
CONCURRENCY_OPTION = click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 32), help="Parallel SMTP connections."
)


@newsletter.command("queue")
@click.argument("slug")
@DAY_OPTION
@EMPTY_OPTION
def newsletter_queue(slug: str, day: str | None, allow_empty: bool) -> None:
    """Queue an edition for every confirmed subscriber; running it again queues nobody twice."""
    edition, articles, queued = _queue(slug, day, allow_empty)
    click.echo(f"{edition}: {articles} articles, {queued} messages queued")
    if articles == 0 and not allow_empty:
        click.echo("no articles that day: nothing queued (pick another --date, or --allow-empty)")


@newsletter.command("deliver")
@BATCH_OPTION
@CONCURRENCY_OPTION
@click.option(
    "--watch", type=click.FloatRange(min=1), metavar="SECONDS",
    help="Keep running, looking for due mail every SECONDS: `tickerfeed worker`'s mail job alone.",
)
def newsletter_deliver(batch_size: int, concurrency: int, watch: float | None) -> None:
    """Send every due message in the outbox (editions, confirmations, retries), then exit."""
    if watch is not None:
        from app.worker import mail_job

        _run_worker([mail_job(concurrency=concurrency, idle_seconds=watch)], batch_size)
        return
    click.echo(_summary(_deliver(batch_size, concurrency)))


@newsletter.command("send")
@click.argument("slug")
@DAY_OPTION
@EMPTY_OPTION
@BATCH_OPTION
@CONCURRENCY_OPTION
def newsletter_send(slug: str, day: str | None, allow_empty: bool, batch_size: int, concurrency: int) -> None:
    """Queue an edition, then deliver everything due."""
    newsletter_queue.callback(slug, day, allow_empty)  # type: ignore[misc]
    newsletter_deliver.callback(batch_size, concurrency, None)  # type: ignore[misc]


@main.group()
def changes() -> None:
    """The changes log partners mirror from (`GET /v1/changes`)."""


@changes.command("prune")
@click.option("--older-than-days", type=click.IntRange(1), help="Default: CHANGES_RETENTION_DAYS.")
def changes_prune(older_than_days: int | None) -> None:
    """Drop changes older than the retention that no mirror starting afresh needs; mirrors
    holding a cursor before them are told to resync (410)."""
    from app.changes.prune import prune_changes

    days = older_than_days or get_settings().changes_retention_days
    if days is None:
        click.echo("CHANGES_RETENTION_DAYS is not set: every change is kept.")
        return
    before = utcnow() - timedelta(days=days)

    async def prune(session: AsyncSession) -> int:
        return await session.run_sync(lambda sync: prune_changes(sync.connection(), before=before))

    click.echo(f"pruned {in_transaction(prune)} changes older than {days} days")


def _run_worker(jobs: Any, batch_size: int) -> None:
    from app.logs import configure_logging
    from app.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings, jobs, batch_size=batch_size))


@main.command()
@BATCH_OPTION
@CONCURRENCY_OPTION
@click.option(
    "--check", is_flag=True,
    help="Exit 0 if a worker on this machine finished a round of work lately, else 1 (a healthcheck).",
)
@click.option("--max-age", default=120, show_default=True, type=click.IntRange(1), metavar="SECONDS")
def worker(batch_size: int, concurrency: int, check: bool, max_age: int) -> None:
    """The background process: queues each newsletter's edition at its send hour and
    delivers mail, until SIGTERM or SIGINT. Several may run at once."""
    from app.worker import JOBS, heartbeat_age, mail_job

    if check:
        age = heartbeat_age(get_settings().worker_heartbeat_file)
        if age is None or age > max_age:
            raise click.ClickException("no worker round finished in the last {} s".format(max_age))
        click.echo(f"worker alive: last round {age:.0f} s ago")
        return
    jobs = [mail_job(concurrency=concurrency) if job.name == "mail" else job for job in JOBS]
    _run_worker(jobs, batch_size)


@main.group()
def webhooks() -> None:
    """Webhooks: deliver the events of the changes log to partners' endpoints."""


@webhooks.command("deliver")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64), help="Endpoints sent to at once.")
@click.option(
    "--watch", type=click.FloatRange(min=0.1), metavar="SECONDS",
    help="Keep running (a worker), looking for new changes and due events every SECONDS; stops on SIGTERM or Ctrl-C.",
)
def webhooks_deliver(concurrency: int, watch: float | None) -> None:
    """Fan out new changes to the endpoints and send every due event, then exit."""
    from app.webhooks.delivery import run_deliveries

    def summary(report: Any) -> str:
        return (
            f"events made {report.fanned_out}, delivered {report.delivered}, retry later {report.retried}, "
            f"given up {report.failed}, endpoints disabled {report.disabled}"
        )

    async def run() -> Any:
        settings, stop = get_settings(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        engine = create_engine(settings)
        try:
            return await run_deliveries(
                create_sessionmaker(engine), settings, watch=watch, stop=stop, concurrency=concurrency,
                on_progress=lambda report: click.echo(summary(report)),
            )
        finally:
            await engine.dispose()

    click.echo(summary(asyncio.run(run())))


@main.command("mail-catcher")
def mail_catcher() -> None:
    """Catch outgoing mail locally and print it (development); first sends mail that was waiting.

    Migrates the database first, as `serve` does."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        raise click.ClickException("the mail catcher needs aiosmtpd, a development dependency: run `make install`") from None
    from app.mail.catcher import run_catcher

    # On a fresh checkout the catcher starts before `make run` has made the database.
    upgrade_database()
    run_catcher(get_settings())
