"""The state a response is built from, read in the same statement as the response's rows.

A response depends on the versions of its content keys (`keys.py`) and on one thing that
moves with time alone: a scheduled article appearing. That article is newer than every
article already visible, so it becomes the first row of every date-ordered list it
joins: such a list's `marker` is its first row's `published_at`. A search's is its
newest candidate's, an article page's whether it is visible yet, and the catalogues'
(whose counts move) the newest visible article's. `next_due`, when the next scheduled
article appears anywhere, tells the shared cache when a stored response stops counting.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from app.db import UTCDateTime
from app.models.article import VISIBLE_ROWS, Article
from app.models.content_key import ContentKey
from app.sql import any_of, fetch_one, json_array_agg, json_list, json_object

# Bump both when the code changes how stored data is rendered: old ETags stop matching,
# the shared cache stops serving old renderings, and Last-Modified is never older than the
# rendering, so a client that revalidates by date alone gets the new one too.
REPRESENTATION_REVISION = 2
REPRESENTATION_REVISED_AT = datetime(2026, 12, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STATE_NOW = bindparam("state_now", type_=UTCDateTime())


@dataclass(frozen=True)
class ContentState:
    """What a representation depends on besides the URL and the caller."""

    versions: tuple[tuple[str, int], ...]
    changed_at: datetime | None
    # The newest visible article anywhere, and when the next scheduled one appears.
    newest: datetime | None = None
    next_due: datetime | None = None
    # What moves with time alone in this representation; the newest article by default.
    marker: datetime | bool | None = None

    @property
    def token(self) -> str:
        """Equal tokens, equal content."""
        versions = ",".join(f"{name}={version}" for name, version in self.versions)
        marker = epoch_micros(self.marker) if isinstance(self.marker, datetime) else self.marker
        return f"{versions}|{marker}"

    @property
    def last_modified(self) -> datetime:
        moments = [self.changed_at, self.marker if isinstance(self.marker, datetime) else None]
        return max([moment for moment in moments if moment is not None] + [REPRESENTATION_REVISED_AT])

    def with_marker(self, marker: datetime | bool | None) -> "ContentState":
        return replace(self, marker=marker)


def epoch_micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (float timestamps can be off by one)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def _visible_edge(*, upcoming: bool) -> Any:
    """The newest visible `published_at`, or the next one to become visible: one entry at
    either side of now in the partial feed index (written out literally so both backends
    use it), not an aggregate over every visible row."""
    published_at = col(Article.published_at)
    side = published_at > STATE_NOW if upcoming else published_at <= STATE_NOW
    return (
        select(published_at)
        .where(text(VISIBLE_ROWS), side)
        .order_by(published_at.asc() if upcoming else published_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def state_columns(dialect: str, row_key: Any = None) -> list[Any]:
    """Columns any statement can carry to read its state in the same round trip: the
    versions of `:state_keys` (and of `row_key`, a key named by each row), when they last
    changed, the newest visible article and the next scheduled one. Without `row_key`
    none is correlated, so each is computed once per statement."""
    of_keys: Any = any_of(col(ContentKey.name), "state_keys", dialect)
    if row_key is not None:
        of_keys = or_(of_keys, col(ContentKey.name) == row_key)
    versions = select(
        json_array_agg(json_object(literal_column("'name'"), ContentKey.name, literal_column("'version'"), ContentKey.version))
    ).where(of_keys)
    changed_at = select(func.max(ContentKey.changed_at)).where(of_keys)
    return [
        versions.scalar_subquery().label("state_versions"),
        changed_at.scalar_subquery().label("state_changed_at"),
        _visible_edge(upcoming=False).label("state_newest"),
        _visible_edge(upcoming=True).label("state_next_due"),
    ]


def state_parameters(keys: Sequence[str], now: datetime) -> dict[str, Any]:
    return {"state_keys": list(keys), "state_now": now}


def state_from_row(row: Mapping[str, Any], keys: Sequence[str]) -> ContentState:
    """The state columns of `row` (any row of a statement carrying `state_columns()`);
    a key without a row is at version 0."""
    found = {item["name"]: item["version"] for item in json_list(row["state_versions"])}
    return ContentState(
        versions=tuple((name, found.get(name, 0)) for name in keys),
        changed_at=row["state_changed_at"],
        newest=row["state_newest"],
        next_due=row["state_next_due"],
        marker=row["state_newest"],
    )


@cache
def state_statement(dialect: str) -> Any:
    return select(*state_columns(dialect))


async def read_state(connection: AsyncConnection, keys: Sequence[str], *, now: datetime) -> ContentState:
    """The state alone, for a response with no rows to carry it (an empty page, a catalogue)."""
    row = await fetch_one(connection, state_statement(connection.dialect.name), state_parameters(keys, now))
    return state_from_row(row, keys)


async def recent_versions(connection: AsyncConnection, *, since: datetime) -> dict[str, int]:
    """The keys bumped since `since`, with their versions."""
    statement = select(ContentKey.name, ContentKey.version).where(col(ContentKey.changed_at) > since)
    return {name: version for name, version in (await connection.execute(statement)).all()}
