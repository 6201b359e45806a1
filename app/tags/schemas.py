from datetime import datetime

from pydantic import BaseModel

from app.fields import RequestBody, TagSlug, line

TagName = line(64, min_length=1)
TagDescription = line(500)


class TagCreate(RequestBody):
    slug: TagSlug
    name: TagName  # type: ignore[valid-type]
    description: TagDescription = ""  # type: ignore[valid-type]


class TagRead(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    article_count: int
    created_at: datetime
    updated_at: datetime
