"""Customers and their phone numbers; orders are the orders domain's (:mod:`cti.orders.models`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cti.db.base import Base, UtcDateTime


class Customer(Base):
    """A customer of one or more shops; one person, one or more phone numbers."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str | None] = mapped_column(String(16), default=None)
    """``new``, ``returning``, ``vip`` as the owning shop (or an operator) set it; NULL
    means derived from orders."""
    shop: Mapped[str | None] = mapped_column(String(64), default=None)
    """The shop that brought this customer (its first order): only that shop's word sets
    ``name`` and ``tier``, and only its paid orders can make the caller a VIP
    (:mod:`cti.customers.service`). NULL: none yet (made by an operator); the next shop
    to send an order brings the customer."""
    last_agent: Mapped[str | None] = mapped_column(String(80), default=None)
    """Interface of the agent who last answered this customer, e.g. ``PJSIP/1001``."""
    last_call_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.id"
    )


class CustomerPhone(Base):
    """One phone number of a customer; ``e164`` is the lookup key of every call."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    raw: Mapped[str] = mapped_column(String(64))
    """The number as the shop gave it, for display."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    customer: Mapped[Customer] = relationship(back_populates="phones")
