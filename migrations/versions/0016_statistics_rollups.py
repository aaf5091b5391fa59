"""statistics rollups: sums per 15-minute slot and per business day, kept as rows are written

The tables start empty; the service fills them from the stored rows when it starts
(cti.stats.rollups.ensure_built) and the statistics read the raw rows until then.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sl_threshold_s", sa.Float(), nullable=False),
        sa.Column("short_abandon_s", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_rollups")),
    )
    op.create_table(
        "stats_queue_slots",
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "offered",
                "answered",
                "abandoned",
                "short_abandons",
                "timeouts",
                "voicemails",
                "transfers",
                "answered_within",
            )
        ),
        sa.Column("wait_answered_s", sa.Float(), nullable=False),
        sa.Column("talk_s", sa.Float(), nullable=False),
        sa.Column("wrapup_s", sa.Float(), nullable=False),
        sa.Column("longest_wait_s", sa.Float(), nullable=True),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "slot", name=op.f("pk_stats_queue_slots")),
    )
    op.create_table(
        "stats_agent_call_slots",
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("talk_s", sa.Float(), nullable=False),
        sa.Column("wrapup_s", sa.Float(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("ring_no_answer", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "queue", "width", "slot", "agent", name=op.f("pk_stats_agent_call_slots")
        ),
    )
    op.create_table(
        "stats_agent_time_slots",
        sa.Column("interface", sa.String(length=80), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("paused_reason", sa.String(length=80), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "interface",
            "width",
            "slot",
            "state",
            "paused_reason",
            name=op.f("pk_stats_agent_time_slots"),
        ),
    )
    op.create_table(
        "stats_agent_time_marks",
        sa.Column("interface", sa.String(length=80), nullable=False),
        sa.Column("covered_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("interface", name=op.f("pk_stats_agent_time_marks")),
    )
    op.create_table(
        "stats_queue_agents",
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("interface", sa.String(length=80), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("queue", "interface", name=op.f("pk_stats_queue_agents")),
    )


def downgrade() -> None:
    for table in (
        "stats_queue_agents",
        "stats_agent_time_marks",
        "stats_agent_time_slots",
        "stats_agent_call_slots",
        "stats_queue_slots",
        "stats_rollups",
    ):
        op.drop_table(table)
