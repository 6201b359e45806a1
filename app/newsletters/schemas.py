from datetime import date, datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, Field

from app.articles.schemas import ArticleCard
from app.fields import RequestBody, Slug, StrictInteger, line


@lru_cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_time_zone(name: str) -> str:
    if name not in _time_zones():
        raise ValueError("must be an IANA time zone such as America/New_York")
    return name


TimeZone = Annotated[
    str,
    Field(max_length=64, description="An IANA time zone name.", examples=["America/New_York"]),
    AfterValidator(_known_time_zone),
]


class NewsletterCreate(RequestBody):
    slug: Slug
    name: line(120, min_length=1)  # type: ignore[valid-type]
    description: line(500) = ""  # type: ignore[valid-type]
    time_zone: TimeZone = "UTC"
    send_hour: StrictInteger = Field(default=7, ge=0, le=23, description="Local hour the edition goes out.")


class NewsletterRead(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    time_zone: str
    send_hour: int
    created_at: datetime


class NewsletterRef(BaseModel):
    slug: str
    name: str


class Edition(BaseModel):
    """One day's headlines: articles published that local day, newest first."""

    newsletter: NewsletterRef
    date: date
    time_zone: str
    articles: list[ArticleCard]
