"""One row that moves on every content write: the cheap half of every HTTP validator.

A GET's ETag hashes this counter with the newest visible `published_at`, so any API
process computes the same validator from the database alone, with one indexed read.
"""

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.models.base import timestamp

# The migration seeds exactly this row; writers only ever update it.
SINGLE_ROW_ID = 1


class ContentVersion(SQLModel, table=True):
    __tablename__ = "content_version"

    id: int = Field(
        default=SINGLE_ROW_ID, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    version: int = Field(default=0, sa_type=BigInteger)
    changed_at: datetime = timestamp()
