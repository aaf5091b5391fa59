"""statistics rollups: marks of what writes left out of date, recomputed by a flush

The writers of calls, ratings and agent states no longer recompute the rollups in their
transaction; they leave a row here and cti.stats.rollups.flush recomputes what the rows
name. Rollups built before stay right: nothing is out of date when this table is made.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_dirty",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("interface", sa.String(length=80), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_dirty")),
    )


def downgrade() -> None:
    op.drop_table("stats_dirty")
