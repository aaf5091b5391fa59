"""statistics indexes: a queue's agents, agents' unanswered rings, ratings by time

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 04:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RING_NO_ANSWER = sa.text("type = 'agent_ring_no_answer'")


def upgrade() -> None:
    # Plain CREATE INDEX on both databases (no batch operation: nothing is copied).
    # The queue's agents: one index probe per agent instead of a scan of the queue's
    # whole state history (cti.stats.queries.queue_members).
    op.create_index(
        "ix_agent_states_queue_interface_at", "agent_states", ["queue", "interface", "at"]
    )
    # Agents' unanswered rings of a period's calls: a few per cent of call_events.
    op.create_index(
        "ix_call_events_ring_no_answer",
        "call_events",
        ["call_id"],
        postgresql_where=RING_NO_ANSWER,
        sqlite_where=RING_NO_ANSWER,
    )
    # The ratings of a period's calls, not those of every year before it.
    op.create_index("ix_csat_ratings_rated_at", "csat_ratings", ["rated_at"])


def downgrade() -> None:
    op.drop_index("ix_csat_ratings_rated_at", table_name="csat_ratings")
    op.drop_index("ix_call_events_ring_no_answer", table_name="call_events")
    op.drop_index("ix_agent_states_queue_interface_at", table_name="agent_states")
