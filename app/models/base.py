"""Metadata shared by every table: constraint names and timestamp columns."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

# Named constraints let Alembic's batch mode rebuild SQLite tables and drop
# constraints by name (https://alembic.sqlalchemy.org/en/latest/naming.html).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def timestamp(*, nullable: bool = False, index: bool = False) -> datetime:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


class Timestamped(SQLModel):
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
