"""PATCH semantics shared by every resource (RFC 7396-like)."""

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from app.problems import FieldError, InvalidFields


def changes_of(update: BaseModel, *, nullable: Iterable[str] = ()) -> dict[str, Any]:
    """The fields a PATCH sent. A field left out stays as it is; `null` clears the fields in
    `nullable` and is a 422 for any other, which cannot be empty."""
    changes = update.model_dump(exclude_unset=True)
    clearable = set(nullable)
    errors = [
        FieldError(loc=["body", name], msg="cannot be null")
        for name, value in changes.items()
        if value is None and name not in clearable
    ]
    if errors:
        raise InvalidFields(errors)
    return changes
