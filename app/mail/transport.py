"""SMTP delivery with aiosmtplib: one connection reused for a batch of messages."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, make_msgid, parseaddr
from types import TracebackType

import aiosmtplib
import idna

from app.mail.rendering import RenderedMail
from app.settings import Settings

# Long `List-Unsubscribe` URLs stay on one line instead of a folded continuation (RFC 5322 allows 998).
UNFOLDED = compat32.clone(max_line_length=998)
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


def ascii_address(address: str) -> str:
    """The address as SMTP without SMTPUTF8 carries it: the domain as its IDNA A-label.

    Mailbox names are ASCII already (subscription requests refuse any that need SMTPUTF8).
    """
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


@dataclass(frozen=True)
class Outgoing:
    """A built mail and its envelope recipient (RCPT TO), kept apart from the To header."""

    recipient: str
    message: Message


def build_message(
    settings: Settings,
    *,
    to: str,
    mail: RenderedMail,
    now: datetime,
    unsubscribe_url: str | None = None,
    list_id: str | None = None,
) -> Message:
    """A multipart/alternative mail: plain text first, HTML preferred by clients that can show it.

    Built with the `email.mime` classes, which flatten several times faster than
    `EmailMessage` (it matters at 10,000 copies); so header values are checked here.
    """
    headers = {
        "From": settings.mail_sender,
        "To": ascii_address(to),
        "Subject": mail.subject,
        "Date": format_datetime(now),
        "Message-ID": make_msgid(idstring=uuid.uuid4().hex, domain=_sender_domain(settings)),
    }
    if unsubscribe_url is not None:
        # RFC 8058: the URL gets a POST with `List-Unsubscribe=One-Click`; no cookies, no page.
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if list_id is not None:
        headers["List-Id"] = list_id
    message = MIMEMultipart("alternative", policy=UNFOLDED)
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"line break in the {name} header")
        message[name] = Header(value, "utf-8").encode() if not value.isascii() else value
    message.attach(MIMEText(mail.text, "plain", _text_charset(mail.text)))
    message.attach(MIMEText(mail.html, "html", _text_charset(mail.html)))
    return message


def _text_charset(body: str) -> Charset:
    # Plain 8-bit keeps links copyable in a catcher's output; quoted-printable only when needed.
    charset = Charset("utf-8")
    long_lines = any(len(line) > 900 for line in body.splitlines())
    charset.body_encoding = QP if long_lines else None
    return charset


def _sender_domain(settings: Settings) -> str:
    address = settings.mail_sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "localhost"


class SmtpConnection:
    """`async with SmtpConnection(settings) as smtp: await smtp.send(message, recipient=…)`."""

    def __init__(self, settings: Settings) -> None:
        self.sender = parseaddr(settings.mail_sender)[1]
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
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.client.is_connected:
            try:
                await self.client.quit()
            except TRANSIENT_ERRORS:
                self.client.close()

    async def send(self, message: Message, *, recipient: str) -> None:
        # Flattened here rather than by `send_message`, whose compat32 policy folds at 78 columns.
        content = message.as_bytes(policy=UNFOLDED.clone(linesep="\r\n"))
        options = ["BODY=8BITMIME"] if self.client.supports_extension("8bitmime") else []
        await self.client.sendmail(
            self.sender, [ascii_address(recipient)], content, mail_options=options
        )
