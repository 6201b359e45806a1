"""Keyset pages over simple catalogues (authors, tickers, tags) sorted ascending."""

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import tuple_
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

Row = TypeVar("Row", bound=SQLModel)


async def ascending_page(
    session: AsyncSession,
    model: type[Row],
    *,
    key: Sequence[Any],
    where: Sequence[Any] = (),
    after: Sequence[Any] | None,
    limit: int | None,
    options: Sequence[Any] = (),
) -> list[Row]:
    statement = select(model).where(*where)
    if after is not None:
        statement = statement.where(tuple_(*key) > tuple(after))
    statement = statement.order_by(*[col(part).asc() for part in key])
    if limit is not None:
        statement = statement.limit(limit)
    if options:
        statement = statement.options(*options)
    return list((await session.exec(statement)).all())
