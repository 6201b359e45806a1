"""PATCH semantics shared by every resource (RFC 7396-like)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def changes_of(update: BaseModel) -> dict[str, Any]:
    """The fields a PATCH sent. A field left out stays as it is; `null` reaches here only
    for the fields whose schema allows it (`app.fields.omittable` marks the others), and
    clears them."""
    return update.model_dump(exclude_unset=True)


def state_of(row: SQLModel, *, parts: Iterable[Any] = ()) -> tuple[Any, ...]:
    """What a PATCH may change: the row's columns but `updated_at`, and its linked parts.

    Compared before and after a PATCH, so that repeating stored values moves neither
    `updated_at` (which mirrors read as "changed") nor any cache validator. Session
    history cannot tell: autoflush clears it whenever a look-up runs mid-update.
    """
    columns = row.__table__.columns  # type: ignore[attr-defined]
    values = tuple(getattr(row, column.key) for column in columns if column.key != "updated_at")
    return values, tuple(sorted(parts, key=repr))


async def save_changes(
    session: AsyncSession, row: SQLModel, *, before: tuple[Any, ...], after: tuple[Any, ...], now: datetime
) -> None:
    if after != before:
        row.updated_at = now  # type: ignore[attr-defined]
    await session.flush()
