"""Placeholders for whole-document assertions, and checks several test modules share."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

PROBLEM_JSON = "application/problem+json"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


class _Matcher:
    def __eq__(self, other: object) -> bool:
        raise NotImplementedError

    def __ne__(self, other: object) -> bool:
        return not self == other


class AnyInt(_Matcher):
    """Equals any positive integer (database ids)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and not isinstance(other, bool) and other > 0

    def __repr__(self) -> str:
        return "<any id>"


class AnyTimestamp(_Matcher):
    """Equals an RFC 3339 timestamp in UTC written with `Z`."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str) or not other.endswith("Z"):
            return False
        try:
            datetime.fromisoformat(other)
        except ValueError:
            return False
        return True

    def __repr__(self) -> str:
        return "<any UTC timestamp>"


class AnyRequestId(_Matcher):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(REQUEST_ID.match(other))

    def __repr__(self) -> str:
        return "<any generated request id>"


ANY_ID = AnyInt()
ANY_TIMESTAMP = AnyTimestamp()
ANY_REQUEST_ID = AnyRequestId()


def iso(moment: datetime) -> str:
    """A datetime as the API writes it: UTC with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def problem(
    status: int, kind: str | None, detail: str | Any, **extra: Any
) -> dict[str, Any]:
    """The whole problem document expected for a response, request id included."""
    return {
        "type": f"/problems/{kind}" if kind else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": ANY_REQUEST_ID,
        **extra,
    }


def validation_problem(*errors: tuple[list[str | int], str | Any]) -> dict[str, Any]:
    return problem(
        422,
        "validation-error",
        "The request has invalid fields; see `errors`.",
        errors=[{"loc": loc, "msg": msg} for loc, msg in errors],
    )


def assert_problem(response: httpx.Response, expected: dict[str, Any]) -> None:
    """The response is exactly `expected`, as a problem document with a matching request id."""
    assert response.headers["content-type"] == PROBLEM_JSON, response.text
    body = response.json()
    assert body == expected, body
    assert response.status_code == expected["status"]
    assert response.headers["x-request-id"] == body["request_id"]
    assert response.headers["cache-control"] == "no-store"


def assert_validation_error(response: httpx.Response, *locs: list[str | int]) -> None:
    """A 422 problem whose errors are exactly at `locs` (messages are not compared)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert [error["loc"] for error in body["errors"]] == [list(loc) for loc in locs], body
    assert all(isinstance(error["msg"], str) and error["msg"] for error in body["errors"])


@contextmanager
def counted_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
