"""Keyset pagination with opaque, signed cursors.

A cursor holds the sort key of the last row served and a fingerprint of the filters
it was made for, signed with the settings secret: a forged, altered or misapplied
cursor is a 400 rather than a wrong page or a 500 (after sqlakeyset's `InvalidPage`).
A signature only proves who wrote a cursor as long as the secret is kept, so the
contents are checked too: each value must be one the API could have written.
"""

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, NoReturn, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from app.links import requested_url
from app.problems import InvalidCursor, InvalidFields

CURSOR_VERSION = 1
NOT_ISSUED = "The cursor is not one this API issued."
# Keys are ids of INTEGER columns: a larger value overflows the database driver.
MIN_KEY_INT, MAX_KEY_INT = -(2**31), 2**31 - 1
T = TypeVar("T")
MAX_CURSOR_CHARS = 512
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
# Described in the spec but checked here, not by FastAPI: the contract answers any cursor
# the API could not have written with a 400, and one with a character outside base64url is
# such a cursor, not a malformed parameter (a 422). Checked before decoding too, because
# `urlsafe_b64decode` skips such characters and would read `ab!c` as `abc`.
CURSOR_SCHEMA = {"pattern": CURSOR_PATTERN, "maxLength": MAX_CURSOR_CHARS, "minLength": 1}


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageRequest(BaseModel):
    limit: int
    cursor: str | None


async def page_request(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, le=100, description="Items per page, 1–100.")] = None,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the page before. A cursor the API did not write is a 400.",
            json_schema_extra=CURSOR_SCHEMA,
        ),
    ] = None,
) -> PageRequest:
    settings = request.app.state.settings
    if limit is None:
        limit = settings.default_page_size
    if limit > settings.max_page_size:
        raise InvalidFields.one(["query", "limit"], f"must be between 1 and {settings.max_page_size}")
    if cursor is not None and (len(cursor) > MAX_CURSOR_CHARS or not re.fullmatch(CURSOR_PATTERN, cursor)):
        raise InvalidCursor(NOT_ISSUED)
    return PageRequest(limit=limit, cursor=cursor)


PageParams = Annotated[PageRequest, Depends(page_request)]


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"cursor:" + secret.encode()).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, key: Sequence[Any], scope: str) -> str:
        payload = json.dumps(
            {"v": CURSOR_VERSION, "k": [_to_json(value) for value in key], "s": scope},
            separators=(",", ":"),
        ).encode()
        return base64.urlsafe_b64encode(self._sign(payload) + payload).rstrip(b"=").decode()

    def decode(self, cursor: str, scope: str, parsers: Sequence[Callable[[Any], Any]]) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor(NOT_ISSUED) from exc
        signature, payload = raw[:16], raw[16:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor(NOT_ISSUED)
        data = _json_object(payload)
        if data.get("v") != CURSOR_VERSION:
            raise InvalidCursor("The cursor has expired; start again from the first page.")
        if data.get("s") != scope:
            raise InvalidCursor("The cursor belongs to a different list or filter.")
        values = data.get("k")
        if not isinstance(values, list) or len(values) != len(parsers):
            raise InvalidCursor(NOT_ISSUED)
        try:
            return [parse(value) for parse, value in zip(parsers, values, strict=True)]
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidCursor(NOT_ISSUED) from exc


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def _json_object(payload: bytes) -> dict[str, Any]:
    """The payload as the JSON object `encode` writes: strict UTF-8, no NaN or Infinity."""
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidCursor(NOT_ISSUED) from exc
    if not isinstance(data, dict):
        raise InvalidCursor(NOT_ISSUED)
    return data


def _to_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# The parsers below raise TypeError, ValueError or OverflowError for anything `encode`
# never writes; `decode` turns each into a 400.


def parse_datetime(value: Any) -> datetime:
    """An aware timestamp, in UTC. The database layer refuses naive ones (a 500 if they
    got there), and moving one near year 1 or 9999 to UTC can overflow: it happens here."""
    if not isinstance(value, str):
        raise TypeError("expected a timestamp")
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise ValueError("expected a timestamp with its UTC offset")
    return moment.astimezone(UTC)


def parse_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    if not MIN_KEY_INT <= value <= MAX_KEY_INT:
        raise ValueError("expected an id")
    return value


def parse_float(value: Any) -> float:
    """A finite score: `float()` of a huge integer overflows, and NaN or infinity compare
    with nothing the way a score does."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError("expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def parse_str(value: Any) -> str:
    """Text a database can take: PostgreSQL refuses NUL, and a lone surrogate (a JSON
    escape such as `\\ud800` makes one) has no UTF-8 form."""
    if not isinstance(value, str):
        raise TypeError("expected a string")
    if "\x00" in value:
        raise ValueError("expected text without NUL")
    value.encode("utf-8")  # UnicodeEncodeError, a ValueError, for a lone surrogate
    return value


def filter_scope(name: str, **filters: Any) -> str:
    """A short fingerprint of a list and its filters, so a cursor only fits where it was made."""
    canonical = json.dumps([name, sorted(filters.items())], default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


Row = TypeVar("Row")


async def keyset_page(
    request: Request,
    response: Response,
    page: PageRequest,
    *,
    scope: str,
    parsers: Sequence[Callable[[Any], Any]],
    fetch: Callable[[list[Any] | None, int], Awaitable[list[Row]]],
    key_of: Callable[[Row], list[Any]],
) -> tuple[list[Row], str | None]:
    """One page of rows after the cursor, and the cursor of the next page (None at the end).

    Fetches one row more than asked to learn whether a next page exists without a count.
    """
    rows = await fetch(cursor_key(request, page, scope, parsers), page.limit + 1)
    last_key = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last_key = key_of(rows[-1])
    return rows, link_next_page(request, response, scope, last_key)


def cursor_key(
    request: Request, page: PageRequest, scope: str, parsers: Sequence[Callable[[Any], Any]]
) -> list[Any] | None:
    """The sort key the page's cursor holds; None for the first page. A cursor the API did
    not write for `scope` is a 400."""
    codec: CursorCodec = request.app.state.cursor_codec
    return codec.decode(page.cursor, scope, parsers) if page.cursor else None


def link_next_page(request: Request, response: Response, scope: str, last_key: Sequence[Any] | None) -> str | None:
    """The cursor of the page after the one whose last row has `last_key` (None when no
    page follows), also set as the `Link` header."""
    codec: CursorCodec = request.app.state.cursor_codec
    next_cursor = codec.encode(last_key, scope) if last_key is not None else None
    set_next_link(request, response, next_cursor)
    return next_cursor


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    """RFC 8288 `Link: rel="next"` beside `next_cursor` in the body."""
    if next_cursor is not None:
        url = requested_url(request).include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
