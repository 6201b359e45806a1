"""Ticker feed index: article_ticker carries its article's published_at.

A ticker's feed is "articles with this ticker, newest first". With only
(ticker_id, article_id) to go on, PostgreSQL walks the whole feed index backwards
and probes the link table for each article: at a million articles a rarely covered
ticker took 0.1-1 s per page (issue 5, EXPLAIN ANALYZE in bench/README.md). With
published_at on the link row, the page is one range scan of
(ticker_id, published_at, article_id). Triggers keep the copy equal to
article.published_at on both backends, so the application never writes it.

Revision ID: 5f0c2a9d8e41
Revises: 6409f0a39cb3
Create Date: 2026-11-29 05:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5f0c2a9d8e41"
down_revision: str | None = "6409f0a39cb3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_FUNCTIONS = {
    "article_ticker_copy_published_at": """
        BEGIN
            NEW.published_at := (SELECT published_at FROM article WHERE id = NEW.article_id);
            RETURN NEW;
        END""",
    "article_published_at_to_tickers": """
        BEGIN
            UPDATE article_ticker SET published_at = NEW.published_at WHERE article_id = NEW.id;
            RETURN NULL;
        END""",
}
POSTGRESQL_TRIGGERS = {
    "article_ticker_copy_published_at": "BEFORE INSERT OR UPDATE OF article_id ON article_ticker FOR EACH ROW",
    "article_published_at_to_tickers": (
        "AFTER UPDATE OF published_at ON article FOR EACH ROW "
        "WHEN (OLD.published_at IS DISTINCT FROM NEW.published_at)"
    ),
}
SQLITE_TRIGGERS = {
    "article_ticker_copy_published_at": """
        AFTER INSERT ON article_ticker BEGIN
            UPDATE article_ticker
            SET published_at = (SELECT published_at FROM article WHERE id = new.article_id)
            WHERE article_id = new.article_id AND ticker_id = new.ticker_id;
        END""",
    "article_published_at_to_tickers": """
        AFTER UPDATE OF published_at ON article BEGIN
            UPDATE article_ticker SET published_at = new.published_at WHERE article_id = new.id;
        END""",
}


def upgrade() -> None:
    op.add_column("article_ticker", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE article_ticker SET published_at = "
        "(SELECT published_at FROM article WHERE article.id = article_ticker.article_id)"
    )
    op.create_index("ix_article_ticker_feed", "article_ticker", ["ticker_id", "published_at", "article_id"])
    if op.get_bind().dialect.name == "postgresql":
        for name, body in POSTGRESQL_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$")
        for name, when in POSTGRESQL_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {name}()")
        return
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in (("article_ticker_copy_published_at", "article_ticker"),
                            ("article_published_at_to_tickers", "article")):
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_article_ticker_feed", table_name="article_ticker")
    with op.batch_alter_table("article_ticker") as batch_op:
        batch_op.drop_column("published_at")
