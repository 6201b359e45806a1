from typing import Any

from sqlalchemy import JSON, Text
from sqlmodel import Field

from app.models.base import Timestamped


class Author(Timestamped, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=16)
    bio: str = Field(default="", sa_type=Text)
    avatar_url: str | None = Field(default=None, max_length=2048)
    expertise: list[str] = Field(default_factory=list, sa_type=JSON)
    audience: str | None = Field(default=None, max_length=300)
    disclosure: str | None = Field(default=None, max_length=1000)
    links: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
