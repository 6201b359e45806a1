"""Each article stores its card, rebuilt by the writes that change it.

Issue 9: a list page reads 21 stored cards instead of building each from the article, its
author, tickers and tags. The column starts empty; a process fills what is stale when it
starts (`app.articles.documents.refresh_stale_cards`), so the card's shape stays the code's
business, not this migration's.

Revision ID: 3b8e61f0c2d4
Revises: 05dce02a42e9
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b8e61f0c2d4"
down_revision: str | None = "05dce02a42e9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both: a batch rebuild of `article` on SQLite would drop the
    # triggers that keep its full-text index.
    op.add_column("article", sa.Column("card", sa.JSON(), nullable=True))
    op.add_column("article", sa.Column("card_revision", sa.Integer(), server_default="0", nullable=False))
    op.create_index(op.f("ix_article_card_revision"), "article", ["card_revision"])


def downgrade() -> None:
    op.drop_index(op.f("ix_article_card_revision"), table_name="article")
    op.drop_column("article", "card_revision")
    op.drop_column("article", "card")
