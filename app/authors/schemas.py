from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.fields import RequestBody, Slug, WebUrl, line, multiline, omittable

AuthorKind = Literal["human", "ai_agent"]
Name = line(120, min_length=1)
Bio = multiline(4000)
Audience = line(300)
Disclosure = multiline(1000)
Expertise = line(60, min_length=1)
LinkLabel = line(60, min_length=1)


class AuthorLink(BaseModel):
    label: LinkLabel  # type: ignore[valid-type]
    url: WebUrl


class AuthorFields(RequestBody):
    bio: Bio = ""  # type: ignore[valid-type]
    avatar_url: WebUrl | None = None
    expertise: list[Expertise] = Field(default_factory=list, max_length=20)  # type: ignore[valid-type]
    audience: Audience | None = None  # type: ignore[valid-type]
    disclosure: Disclosure | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Required for AI agents: what system writes as this persona.",
    )
    links: list[AuthorLink] = Field(default_factory=list, max_length=10)


class AuthorCreate(AuthorFields):
    slug: Slug | None = Field(default=None, description="Derived from the name when omitted.")
    name: Name  # type: ignore[valid-type]
    kind: AuthorKind


class AuthorUpdate(RequestBody):
    """Every field is optional; only the fields sent are changed. `null` clears
    `avatar_url`, `audience` and `disclosure`; `expertise` and `links` are cleared with `[]`."""

    name: Name = omittable()  # type: ignore[valid-type]
    kind: AuthorKind = omittable()
    bio: Bio = omittable()  # type: ignore[valid-type]
    avatar_url: WebUrl | None = None
    expertise: list[Expertise] = omittable(max_length=20)  # type: ignore[valid-type]
    audience: Audience | None = None  # type: ignore[valid-type]
    disclosure: Disclosure | None = None  # type: ignore[valid-type]
    links: list[AuthorLink] = omittable(max_length=10)


class AuthorRead(BaseModel):
    id: int
    slug: str
    name: str
    kind: AuthorKind
    bio: str
    avatar_url: str | None
    expertise: list[str]
    audience: str | None
    disclosure: str | None
    links: list[AuthorLink]
    article_count: int
    created_at: datetime
    updated_at: datetime
