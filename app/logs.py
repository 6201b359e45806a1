"""Logging without personal data or secrets: no email address, token or key in any line
(issue 10, items 5 and 10), whatever the level.

Our own messages name rows by id. What libraries would log on their own is cut where it is
made, by filters on their loggers, so it holds however logging is configured (uvicorn's
dictConfig, a deployment's own handlers, pytest's caplog): a logger's filters see every
record it makes before any handler does. SQL parameters are hidden by the engine itself
(`hide_parameters`, `app/db.py`), in log lines and in exception messages alike.
"""

import logging

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


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level)
    protect_logs()
