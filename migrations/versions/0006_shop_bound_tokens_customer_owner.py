"""shop-bound tokens; the shop that brought each customer

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop", sa.String(length=64), nullable=True))

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop", sa.String(length=64), nullable=True))

    # Existing customers were brought by the shop of their first order. Tokens made
    # before this revision stay unbound (every shop), as they were.
    op.execute(
        "UPDATE customers SET shop = ("
        " SELECT o.shop FROM orders o WHERE o.customer_id = customers.id"
        " ORDER BY o.created_at, o.id LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("shop")

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("shop")
