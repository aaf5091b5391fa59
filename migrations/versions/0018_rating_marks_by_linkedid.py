"""statistics rollups: a rating's mark names its call by Linkedid, resolved by the flush

A rating used to mark the slot of its call as its own transaction saw it; a rating
written while its call's row was being written concurrently found no call, marked
nothing, and its slot kept its old satisfaction figure when the call's mark was flushed
before the rating committed. The rating's mark now names the Linkedid and the flush,
after the rating committed, finds the call. Rollups summed before may hold such a slot:
they are rebuilt at the next start (the statistics read the raw rows until then).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases (no batch copy).
    op.add_column("stats_dirty", sa.Column("linkedid", sa.String(length=64), nullable=True))
    op.execute("DELETE FROM stats_rollups")


def downgrade() -> None:
    # The older flush would skip a mark by Linkedid: rebuild at the next start instead.
    op.execute("DELETE FROM stats_dirty WHERE linkedid IS NOT NULL")
    op.execute("DELETE FROM stats_rollups")
    op.drop_column("stats_dirty", "linkedid")
