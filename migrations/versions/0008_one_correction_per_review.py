"""a QA review is corrected at most once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Two corrections of one review sent at once would both pass a check made before
    # writing (SQLite takes its write lock only at the insert): the index decides.
    with op.batch_alter_table("recording_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_reviews_corrects_id"))
        batch_op.create_index(
            batch_op.f("ix_recording_reviews_corrects_id"), ["corrects_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_reviews_corrects_id"))
        batch_op.create_index(
            batch_op.f("ix_recording_reviews_corrects_id"), ["corrects_id"], unique=False
        )
