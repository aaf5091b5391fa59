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

    # Plain ALTER TABLE ADD COLUMN on both databases: on SQLite a batch operation that
    # chose to copy the table would drop "calls", and its ON DELETE CASCADE would empty
    # call_events on the way.
    op.add_column(
        "calls", sa.Column("offered_at", cti.db.base.UtcDateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "calls", sa.Column("answered_at", cti.db.base.UtcDateTime(timezone=True), nullable=True)
    )
    op.add_column("calls", sa.Column("wrapup_s", sa.Float(), nullable=True))
    op.add_column("calls", sa.Column("transfers", sa.Integer(), server_default="0", nullable=False))
    op.add_column("calls", sa.Column("voicemail", sa.Boolean(), server_default="0", nullable=False))
    op.create_index("ix_calls_queue_offered_at", "calls", ["queue", "offered_at"], unique=False)

    # Calls stored before this revision: their timelines tell when they were queued (the
    # last time before the answer), answered and transferred. Not recoverable: wrap-up,
    # voicemail, and the preferred agent's direct calls (their queue was not stored).
    op.execute(
        """
        UPDATE calls SET
          offered_at = (SELECT max(e.at) FROM call_events e
                        WHERE e.call_id = calls.id AND e.type = 'queued'
                          AND NOT EXISTS (SELECT 1 FROM call_events a
                                          WHERE a.call_id = calls.id AND a.type = 'answered'
                                            AND a.at < e.at)),
          answered_at = (SELECT min(e.at) FROM call_events e
                         WHERE e.call_id = calls.id AND e.type = 'answered'),
          transfers = (SELECT count(*) FROM call_events e
                       WHERE e.call_id = calls.id AND e.type = 'transferred')
        """
    )


def downgrade() -> None:
    # Column by column with ALTER TABLE DROP COLUMN (SQLite 3.35+), never a batch copy of
    # "calls" (see upgrade).
    op.drop_index("ix_calls_queue_offered_at", table_name="calls")
    for column in ("voicemail", "transfers", "wrapup_s", "answered_at", "offered_at"):
        op.execute(f"ALTER TABLE calls DROP COLUMN {column}")

    with op.batch_alter_table("agent_states", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_states_at")

    op.drop_table("agent_states")
