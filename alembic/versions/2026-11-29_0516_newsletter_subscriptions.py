"""Newsletter subscriptions: subscribers, consent history, confirmation tokens, the mail outbox.

Revision ID: 09abbbdcc477
Revises: 702c5b96217b
Create Date: 2026-11-29 05:16:12.321183
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "09abbbdcc477"
down_revision: str | None = "702c5b96217b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("subscriber",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("email", sa.String(length=320), nullable=False),
    sa.Column("email_key", sa.String(length=320), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("token_nonce", sa.String(length=32), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("requested_from", sa.String(length=64), nullable=True),
    sa.Column("consent_version", sa.String(length=32), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("confirmed_from", sa.String(length=64), nullable=True),
    sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber")),
    sa.UniqueConstraint("email_key", name=op.f("uq_subscriber_email_key"))
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_status_id", ["status", "id"], unique=False)

    op.create_table("confirmation_token",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("subscriber_id", sa.Integer(), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], name=op.f("fk_confirmation_token_subscriber_id_subscriber"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_token")),
    sa.UniqueConstraint("token_hash", name=op.f("uq_confirmation_token_token_hash"))
    )
    with op.batch_alter_table("confirmation_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_confirmation_token_subscriber_id"), ["subscriber_id"], unique=False)

    op.create_table("outbound_email",
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("subscriber_id", sa.Integer(), nullable=False),
    sa.Column("newsletter_id", sa.Integer(), nullable=True),
    sa.Column("edition_date", sa.Date(), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claim_token", sa.String(length=32), nullable=True),
    sa.Column("subject", sa.String(length=300), nullable=True),
    sa.Column("body_text", sa.Text(), nullable=True),
    sa.Column("body_html", sa.Text(), nullable=True),
    sa.Column("last_error", sa.String(length=500), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["newsletter_id"], ["newsletter.id"], name=op.f("fk_outbound_email_newsletter_id_newsletter"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], name=op.f("fk_outbound_email_subscriber_id_subscriber"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_email")),
    sa.UniqueConstraint("newsletter_id", "edition_date", "subscriber_id", name=op.f("uq_outbound_email_newsletter_id_edition_date_subscriber_id"))
    )
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_email_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_email_subscriber_id"), ["subscriber_id"], unique=False)

    op.create_table("subscriber_author",
    sa.Column("subscriber_id", sa.Integer(), nullable=False),
    sa.Column("author_id", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["author_id"], ["author.id"], name=op.f("fk_subscriber_author_author_id_author"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], name=op.f("fk_subscriber_author_subscriber_id_subscriber"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("subscriber_id", "author_id", name=op.f("pk_subscriber_author"))
    )
    op.create_table("subscriber_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("subscriber_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("client_address", sa.String(length=64), nullable=True),
    sa.Column("consent_version", sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], name=op.f("fk_subscriber_event_subscriber_id_subscriber"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber_event"))
    )
    with op.batch_alter_table("subscriber_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriber_event_subscriber_id"), ["subscriber_id"], unique=False)

    op.create_table("subscriber_newsletter",
    sa.Column("subscriber_id", sa.Integer(), nullable=False),
    sa.Column("newsletter_id", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["newsletter_id"], ["newsletter.id"], name=op.f("fk_subscriber_newsletter_newsletter_id_newsletter"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], name=op.f("fk_subscriber_newsletter_subscriber_id_subscriber"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("subscriber_id", "newsletter_id", name=op.f("pk_subscriber_newsletter"))
    )
    with op.batch_alter_table("subscriber_newsletter", schema=None) as batch_op:
        batch_op.create_index("ix_subscriber_newsletter_newsletter_id", ["newsletter_id", "subscriber_id"], unique=False)

    op.create_table("subscriber_ticker",
    sa.Column("subscriber_id", sa.Integer(), nullable=False),
    sa.Column("ticker_id", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], name=op.f("fk_subscriber_ticker_subscriber_id_subscriber"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["ticker_id"], ["ticker.id"], name=op.f("fk_subscriber_ticker_ticker_id_ticker"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("subscriber_id", "ticker_id", name=op.f("pk_subscriber_ticker"))
    )


def downgrade() -> None:
    op.drop_table("subscriber_ticker")
    with op.batch_alter_table("subscriber_newsletter", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_newsletter_newsletter_id")

    op.drop_table("subscriber_newsletter")
    with op.batch_alter_table("subscriber_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_event_subscriber_id"))

    op.drop_table("subscriber_event")
    op.drop_table("subscriber_author")
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_email_subscriber_id"))
        batch_op.drop_index("ix_outbound_email_status_next_attempt_at")

    op.drop_table("outbound_email")
    with op.batch_alter_table("confirmation_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_confirmation_token_subscriber_id"))

    op.drop_table("confirmation_token")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriber_status_id")

    op.drop_table("subscriber")
