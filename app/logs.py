"""Logging without personal data or secrets: no email address, token or key in any line
(issue 10, items 5 and 10), whatever the level.

Our own messages name rows by id. What libraries would log on their own is cut where it is
made, by filters on their loggers, so it holds however logging is configured (uvicorn's
dictConfig, a deployment's own handlers, pytest's caplog): a logger's filters see every
record it makes before any handler does. SQL parameters are hidden by the engine itself
(`hide_parameters`, `app/db.py`), in log lines and in exception messages alike.
"""

import json
import logging
import re
import time
from typing import Any

# Routes that take a secret in the query string (`?token=`, `?key=`): feed readers and
# mail clients cannot send headers. Their query strings stay out of access logs.
SECRET_QUERY_PREFIXES = ("/v1/subscriptions", "/feeds/")
ACCESS_LOGGER, SQL_LOGGER, SQLITE_LOGGER = "uvicorn.access", "sqlalchemy.engine.Engine", "aiosqlite"


class AccessLogWithoutSecrets(logging.Filter):
    """uvicorn logs `client - "METHOD path?query HTTP/x" status`; the query goes for
    SECRET_QUERY_PREFIXES."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, has_query, _ = args[2].partition("?")
            if has_query and path.startswith(SECRET_QUERY_PREFIXES):
                record.args = (args[0], args[1], f"{path}?…", args[3], args[4])
        return True


class SqlRowsHidden(logging.Filter):
    """SQLAlchemy logs each result row at DEBUG: subscribers' addresses among them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Row %r"


class SqliteCallsHidden(logging.Filter):
    """aiosqlite logs each call at DEBUG as the repr of a partial: statement and parameters.
    The line keeps the call's name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            call = record.args[0]
            name = getattr(getattr(call, "func", call), "__name__", None)
            record.args = (name or type(call).__name__,)
        return True


FILTERS = {
    ACCESS_LOGGER: AccessLogWithoutSecrets,
    SQL_LOGGER: SqlRowsHidden,
    SQLITE_LOGGER: SqliteCallsHidden,
}


def protect_logs() -> None:
    """Installs the filters once per process; create_app and the CLI both call it."""
    for name, kind in FILTERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, kind) for existing in logger.filters):
            logger.addFilter(kind())


# The last line of defence, on our handler, for whatever a message or a traceback quotes:
# addresses, `token=`/`key=`-like parameters and bearer credentials are cut from the text.
# Linear on long lines (a 60 KB query string in a client library's record): a match starts
# only where a run of address characters starts, and no run is given back once taken.
EMAIL_ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+")
SECRET_PARAMETER = re.compile(
    r"\b(token|key|api_key|password|secret|signature)=[^&\s\"']+", re.IGNORECASE
)
BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# Text by default, for a person reading a terminal; `LOG_FORMAT=json` for a log pipeline.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    text = EMAIL_ADDRESS.sub("[email]", text)
    text = SECRET_PARAMETER.sub(lambda found: f"{found.group(1)}=[redacted]", text)
    return BEARER.sub(lambda found: f"{found.group(1)} [redacted]", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request's fields when the
    record is a request's (`app.observation`), and the stack when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = getattr(record, "request", None)
        if isinstance(fields, dict):
            document.update(fields)
            document["path"] = redact(str(fields.get("path", "")))
        if record.exc_info:
            document["stack"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            document["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(document, default=str)


class OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler configure_logging installs once per process and then reconfigures."""


def configure_logging(level: str, log_format: str = "text") -> None:
    root = logging.getLogger()
    root.setLevel(level)
    handler = next((existing for existing in root.handlers if isinstance(existing, OwnHandler)), None)
    if handler is None:
        handler = OwnHandler()
        root.addHandler(handler)
    formatter = JsonFormatter() if log_format == "json" else RedactingFormatter(TEXT_FORMAT)
    formatter.converter = time.gmtime  # type: ignore[method-assign]
    handler.setFormatter(formatter)
    protect_logs()
