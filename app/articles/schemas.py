from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.fields import RequestBody, Slug, Symbol, TagSlug, UtcDatetime, WebUrl, line, multiline, omittable

ArticleStatus = Literal["draft", "published", "archived"]
AuthorKind = Literal["human", "ai_agent"]
Title = line(200, min_length=1)
Dek = line(500)
BodyMarkdown = multiline(100_000)
AltText = line(300)
Credit = line(200)
ReviewerName = line(120, min_length=1)


class HeroImage(BaseModel):
    url: WebUrl
    alt: AltText = ""  # type: ignore[valid-type]
    credit: Credit | None = None  # type: ignore[valid-type]


class EditorialReviewInput(RequestBody):
    reviewed_by: ReviewerName = Field(description="The human editor who took responsibility.")  # type: ignore[valid-type]
    reviewed_at: UtcDatetime | None = Field(default=None, description="Defaults to now.")


class EditorialReview(BaseModel):
    reviewed_by: str
    reviewed_at: datetime


class ArticleCreate(RequestBody):
    slug: Slug | None = Field(default=None, description="Derived from the title when omitted.")
    title: Title  # type: ignore[valid-type]
    dek: Dek = ""  # type: ignore[valid-type]
    body_markdown: BodyMarkdown  # type: ignore[valid-type]
    author: Slug
    status: ArticleStatus = "draft"
    published_at: UtcDatetime | None = Field(
        default=None, description="May be in the future (scheduled). Defaults to now on publishing."
    )
    tickers: list[Symbol] = Field(default_factory=list, max_length=20)
    tags: list[TagSlug] = Field(default_factory=list, max_length=10)
    hero_image: HeroImage | None = None
    editorial_review: EditorialReviewInput | None = None
    comments_open: bool = Field(default=True, description="Readers may comment (issue 14).")


class ArticleUpdate(RequestBody):
    """Every field is optional; only the fields sent are changed. `null` clears
    `published_at` (a published article then gets "now"), `hero_image` and `editorial_review`."""

    title: Title = omittable()  # type: ignore[valid-type]
    dek: Dek = omittable()  # type: ignore[valid-type]
    body_markdown: BodyMarkdown = omittable()  # type: ignore[valid-type]
    author: Slug = omittable()
    status: ArticleStatus = omittable()
    published_at: UtcDatetime | None = None
    tickers: list[Symbol] = omittable(max_length=20)
    tags: list[TagSlug] = omittable(max_length=10)
    hero_image: HeroImage | None = None
    editorial_review: EditorialReviewInput | None = None
    comments_open: bool = omittable(description="`false` closes the thread: new comments are a 409.")


class AuthorCard(BaseModel):
    id: int
    slug: str
    name: str
    kind: AuthorKind
    avatar_url: str | None


class AuthorBox(AuthorCard):
    """The article page's author box; for an AI agent, its persona and disclosure."""

    bio: str
    expertise: list[str]
    audience: str | None
    disclosure: str | None


class ArticleTickerRef(BaseModel):
    symbol: str
    name: str
    asset_class: str
    exchange: str | None
    role: Literal["primary", "mentioned"]


class TagRef(BaseModel):
    slug: str
    name: str


class ArticleCard(BaseModel):
    id: int
    slug: str
    title: str
    dek: str
    published_at: datetime | None
    updated_at: datetime
    reading_time_minutes: int
    hero_image: HeroImage | None
    author: AuthorCard
    tickers: list[ArticleTickerRef]
    tags: list[TagRef]
    ai_generated: bool
    canonical_url: str
    comment_count: int = Field(description="Approved comments, replies included.")
    comments_open: bool


class ArticleDetail(ArticleCard):
    author: AuthorBox
    status: ArticleStatus
    body_html: str
    word_count: int
    editorial_review: EditorialReview | None
    created_at: datetime
