"""A local SMTP catcher for development: prints every mail it receives (aiosmtpd's
`Debugging` handler, as `python -m aiosmtpd -n` does), on the address the default
SMTP settings send to, so nothing leaves the machine.

Mail that found no catcher listening waits for a retry (MAIL_RETRY_BASE_SECONDS, a minute
and more), and only a deliverer sends it then. So once listening, the catcher makes all
such mail due and delivers it: a newcomer who subscribed before starting it gets the
confirmation at once instead of a minute later after a manual `deliver` (issue 11).
"""

import asyncio
import sys
import threading

from app.db import create_engine, create_sessionmaker, utcnow
from app.mail.delivery import DeliveryReport, deliver_due
from app.mail.outbox import OutboxRepository
from app.settings import Settings


async def deliver_waiting_mail(settings: Settings) -> tuple[int, DeliveryReport]:
    """Makes queued mail due now and delivers everything due: (mail made due, the report)."""
    engine = create_engine(settings)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session, session.begin():
            released = await OutboxRepository(session).retry_now(now=utcnow())
        return released, await deliver_due(sessionmaker, settings)
    finally:
        await engine.dispose()


def run_catcher(settings: Settings, *, stop: threading.Event | None = None) -> None:
    """Listens on SMTP_HOST:SMTP_PORT until interrupted (or `stop` is set)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Debugging

    controller = Controller(Debugging(sys.stdout), hostname=settings.smtp_host, port=settings.smtp_port)
    controller.start()
    try:
        print(f"catching mail on {settings.smtp_host}:{settings.smtp_port} (Ctrl-C to stop)", flush=True)
        released, report = asyncio.run(deliver_waiting_mail(settings))
        if report.sent or report.retried or report.failed:
            print(f"delivered the mail that was waiting: {report.sent} sent ({released} waited for a retry)", flush=True)
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
