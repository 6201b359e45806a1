"""Content keys: a version per part of the content, instead of one for all of it.

One global counter made every write invalidate every cached response and validator: a
typo fix on an old article emptied the cache for every URL at once (issue 9). Each
response now depends on a few keys (the article, the lists it is on, the catalogues'
counts, `all` for what every response shows), and a write bumps only the keys of what
it changed. Keys have no row until first bumped; readers take a missing row as version 0.

Revision ID: 7c1e5b2d9a03
Revises: 5f0c2a9d8e41
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e5b2d9a03"
down_revision: str | None = "5f0c2a9d8e41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    content_key = op.create_table(
        "content_key",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_content_key")),
    )
    op.create_index(op.f("ix_content_key_changed_at"), "content_key", ["changed_at"])
    # `all` starts now, so Last-Modified is truthful for content older than this revision.
    op.bulk_insert(content_key, [{"name": "all", "version": 1, "changed_at": datetime.now(UTC)}])
    op.drop_table("content_version")


def downgrade() -> None:
    content_version = op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version")),
    )
    op.bulk_insert(content_version, [{"id": 1, "version": 0, "changed_at": datetime.now(UTC)}])
    op.drop_index(op.f("ix_content_key_changed_at"), table_name="content_key")
    op.drop_table("content_key")
