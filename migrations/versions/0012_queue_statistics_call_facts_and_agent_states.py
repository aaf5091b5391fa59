"""queue statistics: when a call was offered and answered, wrap-up, transfers, voicemail; agent state history

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 01:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cti.db.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interface", sa.String(length=80), nullable=False),
        sa.Column("member_name", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("paused_reason", sa.String(length=80), server_default="", nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_states")),
        sa.UniqueConstraint(
            "interface", "at", "state", "paused_reason", name=op.f("uq_agent_states_interface")
        ),
    )
    with op.batch_alter_table("agent_states", schema=None) as batch_op:
        batch_op.create_index("ix_agent_states_at", ["at"], unique=False)

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("offered_at", cti.db.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("answered_at", cti.db.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("wrapup_s", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("transfers", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("voicemail", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index("ix_calls_queue_offered_at", ["queue", "offered_at"], unique=False)

    # Calls stored before this revision: their timelines tell when they were queued,
    # answered and transferred (the preferred agent's direct calls stay unoffered: their
    # queue was not stored).
    op.execute(
        """
        UPDATE calls SET
          offered_at = (SELECT max(e.at) FROM call_events e
                        WHERE e.call_id = calls.id AND e.type = 'queued'),
          answered_at = (SELECT min(e.at) FROM call_events e
                         WHERE e.call_id = calls.id AND e.type = 'answered'),
          transfers = (SELECT count(*) FROM call_events e
                       WHERE e.call_id = calls.id AND e.type = 'transferred')
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_queue_offered_at")
        batch_op.drop_column("voicemail")
        batch_op.drop_column("transfers")
        batch_op.drop_column("wrapup_s")
        batch_op.drop_column("answered_at")
        batch_op.drop_column("offered_at")

    with op.batch_alter_table("agent_states", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_states_at")

    op.drop_table("agent_states")
