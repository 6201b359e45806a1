"""Newsletter slugs hold 120 characters, as the spec and the other slugs do.

Issue 11, found by schemathesis: `POST /v1/newsletters` took a slug of up to 120
characters, as the spec says, and PostgreSQL refused one over 64 (a 500). SQLite never
enforces a VARCHAR's length, so there only the declared type changes, in the table's
stored definition: the SQLite documentation's procedure for a change that leaves what is
on disk alone ("ALTER TABLE", section 7). Batch mode would rebuild the table instead, and
dropping the old one would cascade into the outbox and trip the subscriptions' foreign keys.

Revision ID: 3b8f6d1c2e47
Revises: 3b8e4f61c2d7
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b8f6d1c2e47"
down_revision: str | None = "3b8e4f61c2d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    change_slug_length(64, 120)


def downgrade() -> None:
    change_slug_length(120, 64)


def change_slug_length(before: int, after: int) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("newsletter", "slug", existing_type=sa.String(before), type_=sa.String(after))
        return
    version = op.get_bind().exec_driver_sql("PRAGMA schema_version").scalar_one()
    op.execute("PRAGMA writable_schema=ON")
    op.execute(
        "UPDATE sqlite_master SET sql = replace(sql, 'slug VARCHAR(%d) NOT NULL', 'slug VARCHAR(%d) NOT NULL') "
        "WHERE type = 'table' AND name = 'newsletter'" % (before, after)
    )
    op.execute(f"PRAGMA schema_version={version + 1}")
    op.execute("PRAGMA writable_schema=OFF")
