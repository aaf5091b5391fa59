"""shops, do-not-call list, confirmation calls and attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cti.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("shop", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", cti.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("first_response", sa.JSON(), nullable=False),
        sa.Column("created_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cti.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_confirmations_public_id")),
        sa.UniqueConstraint(
            "shop", "idempotency_key", name="uq_confirmations_shop_idempotency_key"
        ),
    )
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_confirmations_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_confirmations_shop_created_at", ["shop", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_confirmations_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_confirmations_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "do_not_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("shop", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_call")),
        sa.UniqueConstraint("phone", "shop", name="uq_do_not_call_phone_shop"),
    )
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_do_not_call_phone"), ["phone"], unique=False)

    op.create_table(
        "shops",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("previous_secret", sa.String(length=128), nullable=True),
        sa.Column("previous_until", cti.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("window_start", sa.String(length=5), nullable=False),
        sa.Column("window_end", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
    )
    op.create_table(
        "confirmation_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("confirmation_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", cti.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("originate_reason", sa.Integer(), nullable=True),
        sa.Column("digit", sa.String(length=1), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmation_id"],
            ["confirmations.id"],
            name=op.f("fk_confirmation_attempts_confirmation_id_confirmations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_attempts")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_confirmation_attempts_channel_id")),
        sa.UniqueConstraint(
            "confirmation_id", "n", name=op.f("uq_confirmation_attempts_confirmation_id")
        ),
    )
    with op.batch_alter_table("confirmation_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_confirmation_attempts_confirmation_id"),
            ["confirmation_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("confirmation_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_confirmation_attempts_confirmation_id"))

    op.drop_table("confirmation_attempts")
    op.drop_table("shops")
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_do_not_call_phone"))

    op.drop_table("do_not_call")
    with op.batch_alter_table("confirmations", schema=None) as batch_op:
        batch_op.drop_index("ix_confirmations_status_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_confirmations_status"))
        batch_op.drop_index("ix_confirmations_shop_created_at")
        batch_op.drop_index(batch_op.f("ix_confirmations_order_id"))

    op.drop_table("confirmations")
