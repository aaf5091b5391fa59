"""Orders pushed by shop backends, each belonging to a customer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime

PROFILE_COLUMNS = ("status", "currency", "amount", "shop")
"""What the caller's paid-order figures read of an order besides its customer and time."""


class Order(Base):
    """An order pushed by a shop backend; ``(shop, order_id)`` is the shop's own key."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop", "order_id", name="uq_orders_shop_order_id"),
        # "Last orders of this customer" (screen-pop) and the caller's order figures of the
        # AGI (cti.customers.profile): on PostgreSQL the index also carries what those
        # figures read, so a customer with thousands of orders is counted from the index
        # alone (an index-only scan), without visiting a heap page per order.
        Index(
            "ix_orders_customer_id_created_at",
            "customer_id",
            "created_at",
            postgresql_include=list(PROFILE_COLUMNS),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop: Mapped[str] = mapped_column(String(64), default="")
    order_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    status: Mapped[str] = mapped_column(String(32))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    shipping_address: Mapped[dict[str, Any] | str | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
