from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field

from app.models.base import Timestamped, timestamp


class ApiKey(Timestamped, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    # The first characters of the key, kept so people can tell their keys apart.
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON)
    revoked_at: datetime | None = timestamp(nullable=True)
