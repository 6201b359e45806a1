"""SQL constructs that read the same on both backends and compile to each one's own words.

Cards carry their tickers and tags; one statement returns them as a JSON array per row
instead of a second query per page. PostgreSQL spells it `json_agg(json_build_object(…))`,
SQLite `json_group_array(json_object(…))`: the query is written once with these
constructs, and SQLAlchemy's compiler extension picks the spelling per dialect
(https://docs.sqlalchemy.org/en/20/core/compiler.html).
"""

from typing import Any

from sqlalchemy import JSON, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class json_object(FunctionElement[Any]):  # noqa: N801  (reads as the SQL function it is)
    """`json_object('key', value, …)`: one JSON object from alternating keys and values."""

    type = JSON()
    inherit_cache = True
    name = "json_object"


class json_array_agg(FunctionElement[Any]):  # noqa: N801
    """The values of a group as one JSON array; an empty group is NULL on PostgreSQL and
    `[]` on SQLite, and `json_list` reads both as an empty list."""

    type = JSON()
    inherit_cache = True
    name = "json_array_agg"


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_array_agg, "postgresql")
def _json_array_agg_postgresql(element: json_array_agg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


@compiles(json_array_agg, "sqlite")
def _json_array_agg_sqlite(element: json_array_agg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


def json_list(value: list[Any] | None) -> list[Any]:
    return value or []


def any_of(column: Any, name: str, dialect: str, item_type: Any = String) -> Any:
    """`column` equals any value of the list bound as `name`. PostgreSQL takes the list as
    one array parameter; elsewhere an expanding IN renders one placeholder per value, which
    costs a rewrite of the statement's SQL on every execution (0.15 ms of a feed page)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))
