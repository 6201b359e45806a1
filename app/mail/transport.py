"""SMTP delivery with aiosmtplib: one connection reused for a batch of messages."""

import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime
from types import TracebackType

import aiosmtplib

from app.mail.rendering import RenderedMail
from app.settings import Settings

# Errors a later attempt may get past: connection trouble, timeouts and 4xx replies.
TRANSIENT_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


def is_permanent(error: BaseException) -> bool:
    """A 5xx reply for this recipient (RFC 5321 §4.2.1): retrying will not help."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refused.code < 600 for refused in error.recipients)
    # Refusals of the sender or of our login are configuration faults: keep the mail for later.
    if isinstance(error, aiosmtplib.SMTPDataError):
        return 500 <= error.code < 600
    return False


def build_message(
    settings: Settings,
    *,
    to: str,
    mail: RenderedMail,
    now: datetime,
    unsubscribe_url: str | None = None,
    list_id: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_sender
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex, domain=_sender_domain(settings))
    if unsubscribe_url is not None:
        # RFC 8058: the URL gets a POST with `List-Unsubscribe=One-Click`; no cookies, no page.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if list_id is not None:
        message["List-Id"] = list_id
    # Plain 8-bit text keeps links copyable in a catcher's output; quoted-printable only when needed.
    long_lines = any(len(line) > 900 for line in mail.text.splitlines())
    message.set_content(mail.text, cte="quoted-printable" if long_lines else "8bit")
    message.add_alternative(mail.html, subtype="html")
    return message


def _sender_domain(settings: Settings) -> str:
    address = settings.mail_sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "localhost"


class SmtpConnection:
    """`async with SmtpConnection(settings) as smtp: await smtp.send(message)`."""

    def __init__(self, settings: Settings) -> None:
        self.client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password,
            use_tls=settings.smtp_tls == "tls",
            start_tls=True if settings.smtp_tls == "starttls" else False,
            timeout=settings.smtp_timeout_seconds,
        )

    async def __aenter__(self) -> "SmtpConnection":
        await self.client.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.client.is_connected:
            try:
                await self.client.quit()
            except TRANSIENT_ERRORS:
                self.client.close()

    async def send(self, message: EmailMessage) -> None:
        await self.client.send_message(message)
