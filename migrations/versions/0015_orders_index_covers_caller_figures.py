"""orders: the customer/time index carries status, currency, amount and shop (PostgreSQL)

The AGI's caller lookup (cti.customers.profile) counts a customer's orders and sums
the paid ones of the tier window. With these columns in the index, PostgreSQL reads
them from the index alone (an index-only scan) instead of one heap page per order:
for a customer with ~2,000 orders that is the difference between ~2 and ~0.3 ms.

On SQLite ``INCLUDE`` does not exist: the index is dropped and created as it was.
Plain DROP/CREATE INDEX in the migration's transaction (no batch operation, nothing is
copied); on PostgreSQL the build holds off writes to ``orders`` for its duration
(about 2 s per million orders on the project's machine).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 04:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_orders_customer_id_created_at"
KEY = ["customer_id", "created_at"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name="orders")
    op.create_index(
        INDEX, "orders", KEY, postgresql_include=["status", "currency", "amount", "shop"]
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="orders")
    op.create_index(INDEX, "orders", KEY)
