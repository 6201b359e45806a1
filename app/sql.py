"""SQL constructs that read the same on both backends, and running read statements fast.

A page of cards is one JSON value built by the database (`app.articles.queries`).
PostgreSQL spells it `json_agg(json_build_object(…))`, SQLite `json_group_array(
json_object(…))`: the query is written once with these constructs, and SQLAlchemy's
compiler extension picks the spelling per dialect
(https://docs.sqlalchemy.org/en/20/core/compiler.html).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, String, any_, bindparam, func, literal_column, select
from sqlalchemy import exc as sa_exc
from sqlalchemy import column as column_of_each
from sqlalchemy.types import TypeDecorator
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class json_object(FunctionElement[Any]):  # noqa: N801  (reads as the SQL function it is)
    """`json_object('key', value, …)`: one JSON object from alternating keys and values."""

    type = JSON()
    inherit_cache = True
    name = "json_object"


class json_array_agg(FunctionElement[Any]):  # noqa: N801
    """`json_array_agg(value, key…)`: the values of a group as one JSON array, ordered by
    the keys on PostgreSQL (SQLite's `json_group_array` takes no ORDER BY before 3.44);
    an empty group is `[]` on both."""

    type = JSON()
    inherit_cache = True
    name = "json_array_agg"






def _spell(construct: type, **templates: str) -> None:
    """Compiles `construct` per dialect: `{}` in a template is its arguments."""
    for dialect, template in templates.items():

        def compile_construct(element: Any, compiler: SQLCompiler, template: str = template, **kw: Any) -> str:
            return template.format(compiler.process(element.clauses, **kw))

        compiles(construct, dialect)(compile_construct)


_spell(json_object, postgresql="json_build_object({})", sqlite="json_object({})")


@compiles(json_array_agg, "postgresql")
def _json_array_agg_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    value, *keys = (compiler.process(clause, **kw) for clause in element.clauses)
    order = f" ORDER BY {', '.join(keys)}" if keys else ""
    return f"coalesce(json_agg({value}{order}), '[]'::json)"


@compiles(json_array_agg, "sqlite")
def _json_array_agg_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(next(iter(element.clauses)), **kw)
    return f"json_group_array({value})"


def json_list(value: list[Any] | None) -> list[Any]:
    return value or []


class JSONList(TypeDecorator[list[Any]]):
    """A list bound as one JSON text, for SQLite's `json_each`."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def any_of(column: Any, name: str, dialect: str, item_type: Any = String) -> Any:
    """`column` equals any value of the list bound as `name`, as one parameter: an array on
    PostgreSQL, a JSON text unpacked by `json_each` on SQLite. An expanding IN would render
    one placeholder per value, a rewrite of the statement's SQL on every execution (0.15 ms
    of a feed page)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    values = select(column_of_each("value")).select_from(func.json_each(bindparam(name, type_=JSONList())))
    return column.in_(values)


class as_json(FunctionElement[Any]):  # noqa: N801
    """A JSON value read from a derived table, embedded as JSON: SQLite hands a column of a
    subquery on as text, which `json()` makes JSON again; PostgreSQL keeps its type."""

    type = JSON()
    inherit_cache = True
    name = "as_json"




class api_time(FunctionElement[Any]):  # noqa: N801
    """A timestamp as the API writes it (`app.responses`: orjson's UTC `…Z`, microseconds
    only when there are any), so that a card stored as text is already what clients get.
    SQLite stores naive UTC as `YYYY-MM-DD HH:MM:SS.ffffff`."""

    inherit_cache = True
    name = "api_time"


class json_bool(FunctionElement[Any]):  # noqa: N801
    """A condition as a JSON boolean: SQLite's JSON would write its 0 or 1."""

    inherit_cache = True
    name = "json_bool"


class json_or_null(FunctionElement[Any]):  # noqa: N801
    """`json_or_null(condition, value)`: the JSON `value` when the condition holds, else
    JSON null. On SQLite a JSON value that passes through CASE is text again: `json()`
    makes it JSON once more."""

    inherit_cache = True
    name = "json_or_null"


class json_text_agg(FunctionElement[Any]):  # noqa: N801
    """`json_text_agg(text, condition, key…)`: the JSON texts of the rows where the condition
    holds as one JSON array's text, in the order of the keys, descending, built by
    concatenation only (no JSON parsed or written).
    PostgreSQL only: SQLite's `group_concat` takes no ORDER BY before 3.44."""

    type = String()
    inherit_cache = True
    name = "json_text_agg"


_spell(as_json, postgresql="{}", sqlite="json({})")
_spell(json_bool, postgresql="({})", sqlite="json(CASE WHEN {} THEN 'true' ELSE 'false' END)")


@compiles(api_time, "postgresql")
def _api_time_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    utc = f"({value} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(date_part('microseconds', {value})::bigint, 1000000) = 0"
        f" THEN '' ELSE to_char({utc}, '.US') END || 'Z')"
    )


@compiles(api_time, "sqlite")
def _api_time_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return (
        f"(replace(substr({value}, 1, 19), ' ', 'T') || CASE WHEN coalesce(substr({value}, 21, 6), '') IN ('', '000000')"
        f" THEN '' ELSE '.' || substr({value}, 21, 6) END || 'Z')"
    )


@compiles(json_or_null, "postgresql")
def _json_or_null_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    condition, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CASE WHEN {condition} THEN {value} END)"


@compiles(json_or_null, "sqlite")
def _json_or_null_sqlite(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    condition, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"json(CASE WHEN {condition} THEN {value} ELSE 'null' END)"


@compiles(json_text_agg, "postgresql")
def _json_text_agg_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    text, condition, *keys = (compiler.process(clause, **kw) for clause in element.clauses)
    order = ", ".join(f"{key} DESC" for key in keys)
    return f"('[' || coalesce(string_agg({text}, ',' ORDER BY {order}) FILTER (WHERE {condition}), '') || ']')"


def literal_key(name: str) -> Any:
    """A key of a JSON object, written into the SQL: asyncpg cannot type a bound one."""
    return literal_column(f"'{name}'")


@dataclass(frozen=True)
class DriverStatement:
    """A Core statement compiled once for its driver: the SQL, the order of its parameters,
    the values written into the statement itself, and SQLAlchemy's own conversions of
    what goes in and comes out (none on asyncpg, which converts by itself)."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]
    writers: dict[str, Callable[[Any], Any]]
    keys: tuple[str, ...]
    readers: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, parameters: dict[str, Any]) -> list[Any]:
        values = [parameters[name] if name in parameters else self.fixed[name] for name in self.names]
        return [
            self.writers[name](value) if name in self.writers and value is not None else value
            for name, value in zip(self.names, values, strict=True)
        ]

    def mapping(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            key: reader(value) if reader is not None else value
            for key, reader, value in zip(self.keys, self.readers, row, strict=True)
        }


@cache
def _for_driver(statement: Any, dialect: Any) -> DriverStatement:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    binds = {name: compiled.binds[name] for name in names}
    fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
    converts = dialect.name != "postgresql"
    writers = {
        name: writer for name, bind in binds.items()
        if converts and (writer := bind.type._cached_bind_processor(dialect)) is not None
    }
    columns = list(statement.selected_columns)
    readers = tuple(column.type._cached_result_processor(dialect, None) if converts else None for column in columns)
    return DriverStatement(compiled.string, names, fixed, writers, tuple(column.key for column in columns), readers)


async def fetch_all(connection: AsyncConnection, statement: Any, parameters: dict[str, Any]) -> list[Mapping[str, Any]]:
    """The rows of a read statement, as mappings, in one call to the driver.

    The statement, compiled once, runs on the connection's driver connection itself:
    SQLAlchemy's execution and result layers cost 0.4 ms of CPU per statement on
    asyncpg, the driver 0.13 ms for the same feed page; aiosqlite takes one hop to its
    thread instead of three (issue 9 profile). asyncpg already returns what the result
    layer would: aware UTC timestamps, and JSON decoded by the codec SQLAlchemy installs
    on each connection; on SQLite, SQLAlchemy's own type conversions run here. Lists are
    bound whole (`any_of`), never expanded. SQLAlchemy's `before_cursor_execute` event
    still fires, so whatever watches statements (instrumentation, the tests' counts)
    sees these too.
    """
    prepared = _for_driver(statement, connection.dialect)
    arguments = prepared.arguments(parameters)
    sync = connection.sync_connection
    if sync is not None:
        sync.dispatch.before_cursor_execute(sync, None, prepared.sql, arguments, None, False)
    driver: Any = (await connection.get_raw_connection()).driver_connection
    try:
        if connection.dialect.name == "postgresql":
            return await driver.fetch(prepared.sql, *arguments)  # type: ignore[no-any-return]
        return [prepared.mapping(row) for row in await driver.execute_fetchall(prepared.sql, arguments)]
    except Exception as error:
        # The driver's own error skips SQLAlchemy's translation: a connection the server
        # dropped (a restart) would reach the client as a 500 and go back to the pool.
        # Say it the way SQLAlchemy would, so it is answered 503 and the connection dropped.
        # asyncpg says only "connection is closed" about a pooled connection whose server
        # went away while it was idle.
        lost = connection.dialect.name == "postgresql" and driver.is_closed()
        # The error itself, not what was being handled when it was raised (`__context__`):
        # a read inside a cache fallback must not pass for unreachable because Redis was.
        if not (lost or is_unreachable_driver_error(error)):
            raise
        await connection.invalidate(error)
        raise sa_exc.OperationalError(prepared.sql, arguments, error, connection_invalidated=True) from error


async def fetch_one(connection: AsyncConnection, statement: Any, parameters: dict[str, Any]) -> Mapping[str, Any]:
    """The one row of a read statement that always returns one."""
    (row,) = await fetch_all(connection, statement, parameters)
    return row


# What the database (or its driver) raises when it cannot be reached or went away mid-way:
# refused or dropped connections, a server shutting down or starting up, a pool with no
# connection to give. Found by class name in the chain of causes, so that the drivers need
# not be imported here.
UNREACHABLE_DRIVER_ERRORS = frozenset({
    "CannotConnectNowError",  # the database system is starting up / shutting down
    "AdminShutdownError",  # terminated by an administrator's command (a restart)
    "CrashShutdownError",
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "InternalClientError",  # asyncpg's protocol state after the server dropped the connection
})


def is_unreachable_driver_error(error: BaseException) -> bool:
    return isinstance(error, OSError) or type(error).__name__ in UNREACHABLE_DRIVER_ERRORS


def is_database_unreachable(error: BaseException) -> bool:
    """True when `error` says the database could not be reached, not that a statement was wrong."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError)):
            return True
        if type(current).__name__ in UNREACHABLE_DRIVER_ERRORS:
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False
