"""The changes log (issue 12): `article_change`, its tickers, the mirror state, the head.

Articles already published are entered as scheduled at their `published_at`: the first
reader of the log logs each as `article.published`, in `published_at` order, at its time
(or when it comes due, for those still in the future), as any scheduled article.

Revision ID: 3b8e4f61c2d7
Revises: 3b8e61f0c2d4
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b8e4f61c2d7"
down_revision: str | None = "3b8e61f0c2d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_change",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_article_change")),
    )
    op.create_index("ix_article_change_article_id_seq", "article_change", ["article_id", "seq"])
    op.create_table(
        "article_change_ticker",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ticker_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["article_change.seq"], name=op.f("fk_article_change_ticker_seq_article_change"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", "ticker_id", name=op.f("pk_article_change_ticker")),
    )
    op.create_index("ix_article_change_ticker_ticker_id_seq", "article_change_ticker", ["ticker_id", "seq"])
    mirror_state = op.create_table(
        "article_mirror_state",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticker_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["article.id"], name=op.f("fk_article_mirror_state_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_mirror_state")),
    )
    op.create_index(op.f("ix_article_mirror_state_due_at"), "article_mirror_state", ["due_at"])
    head = op.create_table(
        "change_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("pruned_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log_head")),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "pruned_seq": 0}])
    article = sa.table(
        "article", sa.column("id"), sa.column("status"), sa.column("published_at"), sa.column("deleted_at")
    )
    # SQLite keeps JSON as text; a CAST there would read `[]` as a number.
    no_tickers = sa.text("'[]'::json") if op.get_bind().dialect.name == "postgresql" else sa.literal("[]")
    published = sa.select(article.c.id, sa.false(), article.c.published_at, no_tickers).where(
        article.c.status == "published", article.c.deleted_at.is_(None), article.c.published_at.is_not(None)
    )
    op.execute(
        mirror_state.insert().from_select(["article_id", "visible", "due_at", "ticker_ids"], published)
    )


def downgrade() -> None:
    op.drop_table("change_log_head")
    op.drop_index(op.f("ix_article_mirror_state_due_at"), table_name="article_mirror_state")
    op.drop_table("article_mirror_state")
    op.drop_index("ix_article_change_ticker_ticker_id_seq", table_name="article_change_ticker")
    op.drop_table("article_change_ticker")
    op.drop_index("ix_article_change_article_id_seq", table_name="article_change")
    op.drop_table("article_change")
