"""Readers and comments (issue 14): passwordless readers, their sessions and sign-in links,
comments with one level of replies, reports; each article's approved comment count and
whether its thread is open; the outbox carries sign-in mails beside subscribers' mails.

Revision ID: 20bc213d927d
Revises: 3d8bd4ba6c52
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20bc213d927d"
down_revision: str | None = "3d8bd4ba6c52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "reader_sign_in",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("requested_from", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader_sign_in")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reader_sign_in_token_hash")),
    )
    op.create_index(op.f("ix_reader_sign_in_email_key"), "reader_sign_in", ["email_key"])
    op.create_table(
        "reader",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_key", sa.String(length=320), nullable=True),
        sa.Column("display_name", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_count", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["author.id"], name=op.f("fk_reader_author_id_author"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscriber.id"], name=op.f("fk_reader_subscriber_id_subscriber"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader")),
        sa.UniqueConstraint("email_key", name=op.f("uq_reader_email_key")),
    )
    op.create_table(
        "comment",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("body_markdown", sa.Text(), nullable=True),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held_for", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("is_article_author", sa.Boolean(), nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        sa.Column("open_reports", sa.Integer(), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"], ["article.id"], name=op.f("fk_comment_article_id_article"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["comment.id"], name=op.f("fk_comment_parent_id_comment"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["reader.id"], name=op.f("fk_comment_reader_id_reader"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment")),
    )
    op.create_index("ix_comment_thread", "comment", ["article_id", "parent_id", "created_at", "id"])
    op.create_index("ix_comment_status_id", "comment", ["status", "id"])
    op.create_index("ix_comment_reader_id_created_at", "comment", ["reader_id", "created_at"])
    op.create_index("ix_comment_fingerprint_created_at", "comment", ["fingerprint", "created_at"])
    op.create_table(
        "reader_session",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["reader.id"], name=op.f("fk_reader_session_reader_id_reader"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reader_session_token_hash")),
    )
    op.create_index(op.f("ix_reader_session_reader_id"), "reader_session", ["reader_id"])
    op.create_table(
        "comment_report",
        *_timestamps(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("reader_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comment.id"], name=op.f("fk_comment_report_comment_id_comment"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["reader.id"], name=op.f("fk_comment_report_reader_id_reader"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_report")),
        sa.UniqueConstraint("comment_id", "reader_id", name=op.f("uq_comment_report_comment_id_reader_id")),
    )
    op.create_index(op.f("ix_comment_report_reader_id"), "comment_report", ["reader_id"])
    # Plain ALTER TABLE: a batch rebuild of `article` on SQLite would drop the triggers
    # that keep its full-text index.
    op.add_column("article", sa.Column("comment_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("article", sa.Column("comments_open", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("outbound_email") as batch_op:
        batch_op.add_column(sa.Column("reader_sign_in_id", sa.Integer(), nullable=True))
        batch_op.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_outbound_email_reader_sign_in_id"), ["reader_sign_in_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_email_reader_sign_in_id_reader_sign_in"), "reader_sign_in",
            ["reader_sign_in_id"], ["id"], ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM outbound_email WHERE subscriber_id IS NULL")
    with op.batch_alter_table("outbound_email") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbound_email_reader_sign_in_id_reader_sign_in"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbound_email_reader_sign_in_id"))
        batch_op.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("reader_sign_in_id")
    op.drop_column("article", "comments_open")
    op.drop_column("article", "comment_count")
    op.drop_table("comment_report")
    op.drop_table("reader_session")
    op.drop_table("comment")
    op.drop_table("reader")
    op.drop_table("reader_sign_in")
