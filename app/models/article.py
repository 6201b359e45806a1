from datetime import datetime

from typing import Any

from sqlalchemy import JSON, Index, Text, text
from sqlmodel import Field, Relationship, SQLModel

from app.models.author import Author
from app.models.base import Timestamped, timestamp
from app.models.tag import Tag
from app.models.ticker import Ticker

VISIBLE_ROWS = "status = 'published' AND deleted_at IS NULL"


class Article(Timestamped, table=True):
    __table_args__ = (
        # The feed: newest first among published rows, keyset on (published_at, id).
        Index(
            "ix_article_feed",
            "published_at",
            "id",
            postgresql_where=text(VISIBLE_ROWS),
            sqlite_where=text(VISIBLE_ROWS),
        ),
        # An author's visible articles: the catalogue's counts, read from the index alone,
        # and the author's feed.
        Index(
            "ix_article_author_feed",
            "author_id",
            "published_at",
            "id",
            postgresql_where=text(VISIBLE_ROWS),
            sqlite_where=text(VISIBLE_ROWS),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    title: str = Field(max_length=200)
    dek: str = Field(default="", max_length=500)
    body_markdown: str = Field(sa_type=Text)
    body_html: str = Field(sa_type=Text)
    word_count: int
    reading_time_minutes: int
    status: str = Field(max_length=16)
    published_at: datetime | None = timestamp(nullable=True)
    author_id: int = Field(foreign_key="author.id", index=True)
    hero_image_url: str | None = Field(default=None, max_length=2048)
    hero_image_alt: str | None = Field(default=None, max_length=300)
    hero_image_credit: str | None = Field(default=None, max_length=200)
    reviewed_by: str | None = Field(default=None, max_length=120)
    reviewed_at: datetime | None = timestamp(nullable=True)
    # A deleted article keeps its row as a tombstone so mirrors can learn of the deletion.
    deleted_at: datetime | None = timestamp(nullable=True)
    # The article's card as lists show it, rebuilt by every write that changes it
    # (`app.articles.documents`); never set directly.
    card: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    card_revision: int = Field(default=0, index=True)
    # Approved comments, recounted by every comment write under the article's row lock
    # (`app.comments.counts`); editors close a thread with `comments_open`.
    comment_count: int = 0
    comments_open: bool = True

    author: Author = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    ticker_links: list["ArticleTicker"] = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "cascade": "all, delete-orphan"}
    )
    tag_links: list["ArticleTag"] = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "cascade": "all, delete-orphan"}
    )


class ArticleTicker(SQLModel, table=True):
    __tablename__ = "article_ticker"
    __table_args__ = (Index("ix_article_ticker_ticker_id_article_id", "ticker_id", "article_id"),)

    article_id: int = Field(foreign_key="article.id", primary_key=True, ondelete="CASCADE")
    ticker_id: int = Field(foreign_key="ticker.id", primary_key=True, ondelete="RESTRICT")
    role: str = Field(max_length=16)

    ticker: Ticker = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class ArticleTag(SQLModel, table=True):
    __tablename__ = "article_tag"
    __table_args__ = (Index("ix_article_tag_tag_id_article_id", "tag_id", "article_id"),)

    article_id: int = Field(foreign_key="article.id", primary_key=True, ondelete="CASCADE")
    tag_id: int = Field(foreign_key="tag.id", primary_key=True, ondelete="RESTRICT")

    tag: Tag = Relationship(sa_relationship_kwargs={"lazy": "raise"})
