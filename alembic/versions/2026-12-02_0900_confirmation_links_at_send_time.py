"""Confirmation tokens hold the request they confirm, and their links are minted when sent.

Issue 10, items 3 and 8. A confirmation token keeps what its request asked for (the
newsletters, tickers and authors, with the requesting client and consent text), so a later
request for the same address cannot change what the link confirms. The token is an HMAC of
a stored seed under the settings secret, minted when its mail is sent: the outbox row names
the token instead of holding the rendered mail, and its subject and bodies go.

Tokens created before this revision get their subscriber's current preferences (what
confirming them did until now) and their token hash as seed: their mails went out already,
and nothing mints from them. A confirmation still waiting in the outbox cannot be rendered
without its plaintext link, which was never stored elsewhere: it is skipped, and the
address can ask again once its resend window has passed.

Revision ID: 05dce02a42e9
Revises: 7c1e5b2d9a03
Create Date: 2026-12-02 09:00:00
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "05dce02a42e9"
down_revision: str | None = "7c1e5b2d9a03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFERENCES = {
    "newsletter_ids": ("subscriber_newsletter", "newsletter_id"),
    "ticker_ids": ("subscriber_ticker", "ticker_id"),
    "author_ids": ("subscriber_author", "author_id"),
}
TOKEN = sa.table(
    "confirmation_token",
    sa.column("id", sa.Integer()),
    sa.column("subscriber_id", sa.Integer()),
    sa.column("token_hash", sa.String()),
    sa.column("seed", sa.String()),
    sa.column("requested_from", sa.String()),
    sa.column("consent_version", sa.String()),
    *(sa.column(name, sa.JSON()) for name in PREFERENCES),
)
SUBSCRIBER = sa.table(
    "subscriber",
    sa.column("id", sa.Integer()),
    sa.column("requested_from", sa.String()),
    sa.column("consent_version", sa.String()),
)
OUTBOX = sa.table(
    "outbound_email",
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("last_error", sa.String()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _skip_waiting_confirmations(reason: str) -> None:
    op.execute(
        OUTBOX.update()
        .where(OUTBOX.c.kind == "confirmation", OUTBOX.c.status.in_(["queued", "sending"]))
        .values(status="skipped", last_error=reason, updated_at=datetime.now(UTC))
    )


def _backfill_tokens() -> None:
    bind = op.get_bind()
    of_subscriber = SUBSCRIBER.c.id == TOKEN.c.subscriber_id
    op.execute(
        TOKEN.update().values(
            seed=TOKEN.c.token_hash,
            requested_from=sa.select(SUBSCRIBER.c.requested_from).where(of_subscriber).scalar_subquery(),
            consent_version=sa.select(SUBSCRIBER.c.consent_version).where(of_subscriber).scalar_subquery(),
        )
    )
    chosen: dict[str, dict[int, list[int]]] = {}
    for name, (table, column) in PREFERENCES.items():
        chosen[name] = defaultdict(list)
        for subscriber_id, value in bind.execute(sa.text(f"SELECT subscriber_id, {column} FROM {table}")):
            chosen[name][subscriber_id].append(value)
    for token_id, subscriber_id in bind.execute(sa.select(TOKEN.c.id, TOKEN.c.subscriber_id)).all():
        bind.execute(
            TOKEN.update()
            .where(TOKEN.c.id == token_id)
            .values({name: sorted(chosen[name].get(subscriber_id, [])) for name in PREFERENCES})
        )


def upgrade() -> None:
    with op.batch_alter_table("confirmation_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seed", sa.String(length=64), nullable=True))
        for name in PREFERENCES:
            batch_op.add_column(sa.Column(name, sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("requested_from", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("consent_version", sa.String(length=32), nullable=True))
    _backfill_tokens()
    with op.batch_alter_table("confirmation_token", schema=None) as batch_op:
        batch_op.alter_column("seed", existing_type=sa.String(length=64), nullable=False)
        for name in PREFERENCES:
            batch_op.alter_column(name, existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("consent_version", existing_type=sa.String(length=32), nullable=False)

    _skip_waiting_confirmations("queued before confirmation links were minted at send time")
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmation_token_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_email_confirmation_token_id_confirmation_token"),
            "confirmation_token",
            ["confirmation_token_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_column("subject")
        batch_op.drop_column("body_text")
        batch_op.drop_column("body_html")


def downgrade() -> None:
    # The previous code sends a confirmation row's stored body, which these rows do not have.
    _skip_waiting_confirmations("queued with a link minted at send time; downgraded")
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=300), nullable=True))
        batch_op.drop_constraint(
            batch_op.f("fk_outbound_email_confirmation_token_id_confirmation_token"),
            type_="foreignkey",
        )
        batch_op.drop_column("confirmation_token_id")

    with op.batch_alter_table("confirmation_token", schema=None) as batch_op:
        batch_op.drop_column("consent_version")
        batch_op.drop_column("requested_from")
        for name in reversed(list(PREFERENCES)):
            batch_op.drop_column(name)
        batch_op.drop_column("seed")
