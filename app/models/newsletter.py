from sqlmodel import Field

from app.models.base import Timestamped


class Newsletter(Timestamped, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)
    time_zone: str = Field(default="UTC", max_length=64)
    send_hour: int = Field(default=7)
