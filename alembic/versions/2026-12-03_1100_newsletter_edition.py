"""The editions the worker's scheduler queued, one per newsletter and day.

Issue 13: the unique key on (newsletter_id, edition_date) is how several workers agree
that an edition was queued: each inserts the row in the transaction that queues the
mail, and only the one whose insert lands queues anything.

Revision ID: 7c1d2e9a4b60
Revises: 3b8f6d1c2e47
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1d2e9a4b60"
down_revision: str | None = "3b8f6d1c2e47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "newsletter_edition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.Integer(), nullable=False),
        sa.Column("edition_date", sa.Date(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["newsletter_id"], ["newsletter.id"],
            name=op.f("fk_newsletter_edition_newsletter_id_newsletter"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_edition")),
        sa.UniqueConstraint(
            "newsletter_id", "edition_date", name=op.f("uq_newsletter_edition_newsletter_id_edition_date")
        ),
    )


def downgrade() -> None:
    op.drop_table("newsletter_edition")
