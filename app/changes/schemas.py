from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.articles.schemas import ArticleDetail

ChangeType = Literal["article.published", "article.updated", "article.unpublished", "article.deleted"]


class Change(BaseModel):
    seq: int = Field(description="Increases with every change; the order to apply them in.")
    type: ChangeType
    occurred_at: datetime = Field(description="When it took effect: a scheduled article's `published_at`.")
    article_id: int
    slug: str
    article: ArticleDetail | None = Field(
        description="The article as `GET /v1/articles/{slug}` shows it now, for `article.published` and "
        "`article.updated`; null for `article.unpublished` and `article.deleted`."
    )


class ChangePage(BaseModel):
    items: list[Change]
    next_cursor: str = Field(
        description="Never null: after an empty page, poll again with the same cursor."
    )
