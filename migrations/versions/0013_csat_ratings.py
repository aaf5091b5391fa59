"""customer satisfaction ratings (one per call)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cti.db.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "csat_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("rated_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_csat_ratings_rating_1_to_5")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_ratings")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_csat_ratings_linkedid")),
    )
    with op.batch_alter_table("csat_ratings", schema=None) as batch_op:
        batch_op.create_index("ix_csat_ratings_agent_rated_at", ["agent", "rated_at"], unique=False)
        batch_op.create_index("ix_csat_ratings_queue_rated_at", ["queue", "rated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("csat_ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_csat_ratings_queue_rated_at")
        batch_op.drop_index("ix_csat_ratings_agent_rated_at")
    op.drop_table("csat_ratings")
