"""A version per part of the content a response can depend on (`app.caching.keys`).

A write bumps only the keys of what it changed, in its own transaction; a response is
built from its keys' versions, read in the same statement as its rows, so any API process
computes the same validators from the database alone.
"""

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.models.base import timestamp


class ContentKey(SQLModel, table=True):
    __tablename__ = "content_key"

    name: str = Field(primary_key=True, max_length=64)
    version: int = Field(sa_type=BigInteger)
    # Indexed: the shared cache offers the versions bumped in the last seconds.
    changed_at: datetime = timestamp(index=True)
