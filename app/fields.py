"""Constrained field types shared by request schemas and query parameters.

Every string a client sends has a maximum length and refuses control characters and
lone surrogates: PostgreSQL rejects NUL in text, and neither belongs in content.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Path, Query
from pydantic import (
    AfterValidator, AnyHttpUrl, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler, Strict,
    StringConstraints, UrlConstraints, model_validator,
)

_SINGLE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# Multi-line text keeps tab, line feed and carriage return.
_MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _refuse(pattern: re.Pattern[str]) -> AfterValidator:
    def check(value: str) -> str:
        if pattern.search(value):
            raise ValueError("must not contain control characters")
        return value

    return AfterValidator(check)


# What the validators refuse, told to clients as JSON Schema patterns (issue 11: schemathesis
# sent control characters the spec allowed). Lone surrogates have no pattern that every
# generator reads alike; JSON text rarely holds them.
_SINGLE_LINE_CHARACTER = r"[^\u0000-\u001f\u007f]"
_VISIBLE_CHARACTER = r"[^\s\u0000-\u001f\u007f]"
_MULTI_LINE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"


@dataclass(frozen=True)
class _SpecPattern:
    """A `pattern` in the field's JSON Schema only; the validators above do the refusing."""

    pattern: str

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> Any:
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


def _line_pattern(min_length: int) -> str:
    if min_length == 0:
        return f"^{_SINGLE_LINE_CHARACTER}*$"
    # Surrounding whitespace is stripped: one character must be more.
    return f"^{_SINGLE_LINE_CHARACTER}*{_VISIBLE_CHARACTER}{_SINGLE_LINE_CHARACTER}*$"


def _stripped(min_length: int) -> AfterValidator:
    def strip(value: str) -> str:
        value = value.strip()
        if len(value) < min_length:
            raise ValueError("must not be blank")
        return value

    return AfterValidator(strip)


def line(max_length: int, *, min_length: int = 0) -> object:
    """A single line of text such as a title or a name. The bounds are those of the text as
    sent, as the spec says (issue 11: schemathesis sent 61 characters for 60, two of them
    spaces stripped before the check); surrounding whitespace is then stripped, and what
    remains must not be blank where a minimum is set."""
    constraints = StringConstraints(min_length=min_length, max_length=max_length)
    return Annotated[
        str, constraints, _refuse(_SINGLE_LINE_FORBIDDEN), _stripped(min_length), _SpecPattern(_line_pattern(min_length))
    ]


def multiline(max_length: int) -> object:
    """Free text such as a Markdown body or a bio."""
    return Annotated[
        str, StringConstraints(max_length=max_length), _refuse(_MULTI_LINE_FORBIDDEN), _SpecPattern(_MULTI_LINE_PATTERN)
    ]


SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=120)]
TagSlug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]

# Exchange symbols: BRK.B, BRK-B, BRK/B, 9988.HK, EURUSD. Look-ups are case-insensitive.
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9./-]{0,15}$"
Symbol = Annotated[
    str,
    StringConstraints(pattern=SYMBOL_PATTERN, min_length=1, max_length=16, to_upper=True),
]

# A ticker in a path: found by symbol or alias in any case; the shared cache stores only
# the upper-case spelling, so case variants of one page add no entries (issue 10).
SymbolPath = Annotated[
    str,
    Path(max_length=16, pattern=SYMBOL_PATTERN, description="Symbol or alias, any case."),
    AfterValidator(str.upper),
]

# The changes log's filter (`GET /v1/changes`, `GET /v1/stream`): a change matches the
# tickers its article carries, or carried before an unpublish or delete.
CarriedTickers = Annotated[
    list[Symbol],
    Query(max_length=20, description="Changes of articles that carry, or carried, any of these (repeatable)."),
]



def symbol_in_path(symbol: str) -> str:
    """A symbol as one path segment of a link: BRK/B is `BRK%2FB`."""
    return quote(symbol, safe="")


MAX_URL_LENGTH = 2048


def _fits_once_normalised(url: AnyHttpUrl) -> AnyHttpUrl:
    # The length bound reads the URL as sent; normalising it (a `/` for an empty path,
    # percent-encoding) can lengthen it past what the columns and the response models hold
    # (issue 11, found by schemathesis: a 500 when the author was read back).
    if len(str(url)) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters once normalised")
    return url


WebUrl = Annotated[
    AnyHttpUrl,
    UrlConstraints(max_length=MAX_URL_LENGTH, allowed_schemes=["http", "https"]),
    AfterValidator(_fits_once_normalised),
]


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00:00+01:00 is a valid RFC 3339 time that no UTC datetime can hold;
    # refuse it here rather than overflow when the database layer converts it.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be representable in UTC (years 1 to 9999)") from None


_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text(value: object) -> object:
    # Pydantic would also read numbers as Unix times; the contract speaks RFC 3339 only.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-28T14:03:00Z")
    return value


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_utc)]


# Far more than any request schema has fields.
MAX_BODY_MEMBERS = 64


class RequestBody(BaseModel):
    """A JSON object a client sends: unknown members are refused, and so is an object with
    more members than any schema could name. Pydantic reports each unknown member as an
    error of its own, and an object of 50,000 members took over 100 ms of CPU to refuse
    that way (issue 10's fuzz pass); refused here, it is one error."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def few_members(cls, value: object) -> object:
        if isinstance(value, dict) and len(value) > MAX_BODY_MEMBERS:
            raise ValueError(f"must have at most {MAX_BODY_MEMBERS} members")
        return value


# JSON numbers only: lax mode would read `true` as 1 and `"7"` as 7, which the spec does
# not allow and a client would never notice it relied on (issue 11).
StrictInteger = Annotated[int, Strict()]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**constraints: Any) -> Any:
    """A PATCH field that may be left out but never sent as `null`: the column it changes
    cannot be empty. Typed without `None`, so `null` is a 422 and the spec does not mark the
    field nullable; the default (never validated, never dumped with `exclude_unset`) stays
    out of the spec, where `"default": null` would contradict the type."""
    return Field(default=None, json_schema_extra=_without_default, **constraints)
