"""Content core: articles, authors, tickers, tags, newsletters and API keys.

Revision ID: 702c5b96217b
Revises:
Create Date: 2026-11-29 05:02:33.028275
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "702c5b96217b"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VISIBLE_ROWS = "status = 'published' AND deleted_at IS NULL"


def upgrade() -> None:
    op.create_table("api_key",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("prefix", sa.String(length=16), nullable=False),
    sa.Column("key_hash", sa.String(length=64), nullable=False),
    sa.Column("scopes", sa.JSON(), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
    sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash"))
    )
    op.create_table("author",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("slug", sa.String(length=120), nullable=False),
    sa.Column("name", sa.String(length=120), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("bio", sa.Text(), nullable=False),
    sa.Column("avatar_url", sa.String(length=2048), nullable=True),
    sa.Column("expertise", sa.JSON(), nullable=False),
    sa.Column("audience", sa.String(length=300), nullable=True),
    sa.Column("disclosure", sa.String(length=1000), nullable=True),
    sa.Column("links", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_author")),
    sa.UniqueConstraint("slug", name=op.f("uq_author_slug"))
    )
    op.create_table("newsletter",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("slug", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=120), nullable=False),
    sa.Column("description", sa.String(length=500), nullable=False),
    sa.Column("time_zone", sa.String(length=64), nullable=False),
    sa.Column("send_hour", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter")),
    sa.UniqueConstraint("slug", name=op.f("uq_newsletter_slug"))
    )
    op.create_table("tag",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("slug", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("description", sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tag")),
    sa.UniqueConstraint("slug", name=op.f("uq_tag_slug"))
    )
    op.create_table("ticker",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("symbol", sa.String(length=16), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("asset_class", sa.String(length=16), nullable=False),
    sa.Column("exchange", sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_ticker")),
    sa.UniqueConstraint("symbol", name=op.f("uq_ticker_symbol"))
    )
    op.create_table("article",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("slug", sa.String(length=120), nullable=False),
    sa.Column("title", sa.String(length=200), nullable=False),
    sa.Column("dek", sa.String(length=500), nullable=False),
    sa.Column("body_markdown", sa.Text(), nullable=False),
    sa.Column("body_html", sa.Text(), nullable=False),
    sa.Column("word_count", sa.Integer(), nullable=False),
    sa.Column("reading_time_minutes", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("author_id", sa.Integer(), nullable=False),
    sa.Column("hero_image_url", sa.String(length=2048), nullable=True),
    sa.Column("hero_image_alt", sa.String(length=300), nullable=True),
    sa.Column("hero_image_credit", sa.String(length=200), nullable=True),
    sa.Column("reviewed_by", sa.String(length=120), nullable=True),
    sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["author_id"], ["author.id"], name=op.f("fk_article_author_id_author")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_article")),
    sa.UniqueConstraint("slug", name=op.f("uq_article_slug"))
    )
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_article_author_id"), ["author_id"], unique=False)
        batch_op.create_index("ix_article_feed", ["published_at", "id"], unique=False, postgresql_where=sa.text(VISIBLE_ROWS), sqlite_where=sa.text(VISIBLE_ROWS))

    op.create_table("ticker_alias",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("ticker_id", sa.Integer(), nullable=False),
    sa.Column("alias", sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name=op.f("fk_ticker_alias_ticker_id_ticker"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_ticker_alias")),
    sa.UniqueConstraint("alias", name=op.f("uq_ticker_alias_alias"))
    )
    with op.batch_alter_table("ticker_alias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticker_alias_ticker_id"), ["ticker_id"], unique=False)

    op.create_table("article_tag",
    sa.Column("article_id", sa.Integer(), nullable=False),
    sa.Column("tag_id", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["article_id"], ["article.id"], name=op.f("fk_article_tag_article_id_article"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], name=op.f("fk_article_tag_tag_id_tag"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("article_id", "tag_id", name=op.f("pk_article_tag"))
    )
    with op.batch_alter_table("article_tag", schema=None) as batch_op:
        batch_op.create_index("ix_article_tag_tag_id_article_id", ["tag_id", "article_id"], unique=False)

    op.create_table("article_ticker",
    sa.Column("article_id", sa.Integer(), nullable=False),
    sa.Column("ticker_id", sa.Integer(), nullable=False),
    sa.Column("role", sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(["article_id"], ["article.id"], name=op.f("fk_article_ticker_article_id_article"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name=op.f("fk_article_ticker_ticker_id_ticker"), ondelete="RESTRICT"),
    sa.PrimaryKeyConstraint("article_id", "ticker_id", name=op.f("pk_article_ticker"))
    )
    with op.batch_alter_table("article_ticker", schema=None) as batch_op:
        batch_op.create_index("ix_article_ticker_ticker_id_article_id", ["ticker_id", "article_id"], unique=False)

    create_search()



def downgrade() -> None:
    drop_search()
    with op.batch_alter_table("article_ticker", schema=None) as batch_op:
        batch_op.drop_index("ix_article_ticker_ticker_id_article_id")

    op.drop_table("article_ticker")
    with op.batch_alter_table("article_tag", schema=None) as batch_op:
        batch_op.drop_index("ix_article_tag_tag_id_article_id")

    op.drop_table("article_tag")
    with op.batch_alter_table("ticker_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticker_alias_ticker_id"))

    op.drop_table("ticker_alias")
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_index("ix_article_feed", postgresql_where=sa.text(VISIBLE_ROWS), sqlite_where=sa.text(VISIBLE_ROWS))
        batch_op.drop_index(batch_op.f("ix_article_author_id"))

    op.drop_table("article")
    op.drop_table("ticker")
    op.drop_table("tag")
    op.drop_table("newsletter")
    op.drop_table("author")
    op.drop_table("api_key")


# Full-text search over title, dek and body, weighted in that order on both backends.
POSTGRESQL_SEARCH_VECTOR = """
    setweight(to_tsvector('english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(dek, '')), 'B')
    || setweight(to_tsvector('english', coalesce(body_markdown, '')), 'C')
"""

SQLITE_SEARCH_TRIGGERS = {
    "article_search_after_insert": """
        AFTER INSERT ON article BEGIN
            INSERT INTO article_search (rowid, title, dek, body_markdown)
            VALUES (new.id, new.title, new.dek, new.body_markdown);
        END""",
    "article_search_after_delete": """
        AFTER DELETE ON article BEGIN
            INSERT INTO article_search (article_search, rowid, title, dek, body_markdown)
            VALUES ('delete', old.id, old.title, old.dek, old.body_markdown);
        END""",
    "article_search_after_update": """
        AFTER UPDATE OF title, dek, body_markdown ON article BEGIN
            INSERT INTO article_search (article_search, rowid, title, dek, body_markdown)
            VALUES ('delete', old.id, old.title, old.dek, old.body_markdown);
            INSERT INTO article_search (rowid, title, dek, body_markdown)
            VALUES (new.id, new.title, new.dek, new.body_markdown);
        END""",
}


def create_search() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE article ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({POSTGRESQL_SEARCH_VECTOR}) STORED"
        )
        op.execute("CREATE INDEX ix_article_search_vector ON article USING gin (search_vector)")
        return
    # An external-content FTS5 table: the text stays in `article`, triggers keep the index current.
    op.execute(
        "CREATE VIRTUAL TABLE article_search USING fts5(title, dek, body_markdown, "
        "content='article', content_rowid='id', tokenize='porter unicode61')"
    )
    for name, body in SQLITE_SEARCH_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def drop_search() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_article_search_vector")
        op.execute("ALTER TABLE article DROP COLUMN search_vector")
        return
    for name in SQLITE_SEARCH_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE article_search")
