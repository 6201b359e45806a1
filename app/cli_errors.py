"""What a failed `tickerfeed` command prints: one line on stderr and a non-zero exit, never a
traceback (issue 11). Bad arguments exit 2, as click's do; everything else exits 1."""

import re
import sys
import threading
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from app.problems import Problem

# SQLite's and PostgreSQL's words for a table that is not there yet.
UNMIGRATED = re.compile(r"no such table|relation .* does not exist")


def one_line(error: BaseException) -> str:
    """The error as the person at the terminal needs it: what went wrong, in a line."""
    if isinstance(error, click.ClickException):
        return error.format_message()
    if isinstance(error, Problem):
        return error.detail
    if isinstance(error, ValidationError):
        return "invalid settings: " + "; ".join(_setting_error(detail) for detail in error.errors())
    if isinstance(error, DBAPIError | OSError):
        # The URL stays out: it may hold a password.
        reason = _first_line(str(getattr(error, "orig", None) or error))
        if UNMIGRATED.search(reason):
            reason += " (run `tickerfeed migrate`)"
        return f"cannot use the database (DATABASE_URL): {reason}"
    return f"unexpected {type(error).__name__}: {_first_line(str(error))}"


def _setting_error(detail: Any) -> str:
    message = detail["msg"].removeprefix("Value error, ")
    return f"{'.'.join(map(str, detail['loc'])).upper()}: {message}" if detail["loc"] else message


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"


class OneLineErrors(click.Group):
    """A command group whose failures are one line. Click alone prints usage and a hint
    around a usage error, and lets any other exception end in a traceback."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        extra.pop("standalone_mode", None)
        try:
            outcome = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            self._fail("aborted", 1)
        except click.ClickException as error:
            self._fail(one_line(error), error.exit_code)
        except Exception as error:  # the point of this class: nothing ends in a traceback
            self._fail(one_line(error), 1)
        # Without standalone mode, --help and --version return their exit code.
        sys.exit(outcome if isinstance(outcome, int) else 0)

    def _fail(self, message: str, exit_code: int) -> None:
        # A driver thread can outlive the failed command's event loop: aiosqlite's, after a
        # failed connect, then reports "Event loop is closed" with a traceback of its own.
        threading.excepthook = lambda _: None
        click.echo(f"{self.name}: {message}", err=True)
        sys.exit(exit_code)
