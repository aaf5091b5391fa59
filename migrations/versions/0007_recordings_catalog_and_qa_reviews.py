"""recordings catalog and QA reviews

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cti.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("caller_number", sa.String(length=64), nullable=True),
        sa.Column("agent", sa.String(length=80), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("paused_spans", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", cti.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("linkedid", "segment", name="uq_recordings_linkedid_segment"),
        sa.UniqueConstraint("path", name=op.f("uq_recordings_path")),
        sa.UniqueConstraint("public_id", name=op.f("uq_recordings_public_id")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_agent"), ["agent"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recordings_caller_number"), ["caller_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recordings_direction"), ["direction"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_linkedid"), ["linkedid"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_queue"), ["queue"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_started_at"), ["started_at"], unique=False)
        batch_op.create_index(
            "ix_recordings_status_started_at", ["status", "started_at"], unique=False
        )

    op.create_table(
        "recording_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("sheet", sa.String(length=64), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=80), nullable=False),
        sa.Column("agent", sa.String(length=80), nullable=True),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cti.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["recording_reviews.id"],
            name=op.f("fk_recording_reviews_corrects_id_recording_reviews"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_reviews_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_reviews")),
        sa.UniqueConstraint("public_id", name=op.f("uq_recording_reviews_public_id")),
    )
    with op.batch_alter_table("recording_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_reviews_agent"), ["agent"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recording_reviews_corrects_id"), ["corrects_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recording_reviews_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recording_reviews_queue"), ["queue"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recording_reviews_recording_id"), ["recording_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_reviews_recording_id"))
        batch_op.drop_index(batch_op.f("ix_recording_reviews_queue"))
        batch_op.drop_index(batch_op.f("ix_recording_reviews_created_at"))
        batch_op.drop_index(batch_op.f("ix_recording_reviews_corrects_id"))
        batch_op.drop_index(batch_op.f("ix_recording_reviews_agent"))

    op.drop_table("recording_reviews")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_status_started_at")
        batch_op.drop_index(batch_op.f("ix_recordings_started_at"))
        batch_op.drop_index(batch_op.f("ix_recordings_queue"))
        batch_op.drop_index(batch_op.f("ix_recordings_order_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_linkedid"))
        batch_op.drop_index(batch_op.f("ix_recordings_direction"))
        batch_op.drop_index(batch_op.f("ix_recordings_caller_number"))
        batch_op.drop_index(batch_op.f("ix_recordings_agent"))

    op.drop_table("recordings")
