"""Content version: one counter row bumped by every content write, for HTTP validators.

Revision ID: 6409f0a39cb3
Revises: 09abbbdcc477
Create Date: 2026-11-29 05:17:54.431767
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "6409f0a39cb3"
down_revision: str | None = "09abbbdcc477"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    content_version = op.create_table("content_version",
    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version"))
    )
    # The single row the app updates; `changed_at` starts now so Last-Modified is truthful
    # for content that existed before this revision. SQLite stores it as naive UTC.
    op.bulk_insert(content_version, [{"id": 1, "version": 0, "changed_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("content_version")
