from sqlmodel import Field

from app.models.base import Timestamped


class Tag(Timestamped, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=500)
