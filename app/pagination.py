"""Keyset pagination with opaque, signed cursors.

A cursor holds the sort key of the last row served and a fingerprint of the filters
it was made for, signed with the settings secret: a forged, altered or misapplied
cursor is a 400 rather than a wrong page or a 500 (after sqlakeyset's `InvalidPage`).
"""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from app.problems import InvalidCursor, InvalidFields

CURSOR_VERSION = 1
T = TypeVar("T")


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
        Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$", description="`next_cursor` of the page before."),
    ] = None,
) -> PageRequest:
    settings = request.app.state.settings
    if limit is None:
        limit = settings.default_page_size
    if limit > settings.max_page_size:
        raise InvalidFields.one(["query", "limit"], f"must be between 1 and {settings.max_page_size}")
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
            raise InvalidCursor("The cursor is not one this API issued.") from exc
        signature, payload = raw[:16], raw[16:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor("The cursor is not one this API issued.")
        data = json.loads(payload)
        if data.get("v") != CURSOR_VERSION:
            raise InvalidCursor("The cursor has expired; start again from the first page.")
        if data.get("s") != scope:
            raise InvalidCursor("The cursor belongs to a different list or filter.")
        values = data.get("k")
        if not isinstance(values, list) or len(values) != len(parsers):
            raise InvalidCursor("The cursor is not one this API issued.")
        try:
            return [parse(value) for parse, value in zip(parsers, values, strict=True)]
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("The cursor is not one this API issued.") from exc


def _to_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("expected a timestamp")
    return datetime.fromisoformat(value)


def parse_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def parse_float(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError("expected a number")
    return float(value)


def parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
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
    codec: CursorCodec = request.app.state.cursor_codec
    after = codec.decode(page.cursor, scope, parsers) if page.cursor else None
    rows = await fetch(after, page.limit + 1)
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = codec.encode(key_of(rows[-1]), scope)
    set_next_link(request, response, next_cursor)
    return rows, next_cursor


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    """RFC 8288 `Link: rel="next"` beside `next_cursor` in the body."""
    if next_cursor is not None:
        url = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
