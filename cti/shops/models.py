"""A shop's settings for outbound calls and webhooks, and the do-not-call list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime

SHOP_ID_MAX = 64


class Shop(Base):
    """One shop backend. ``id`` is the name its tokens are bound to (``--shop``)."""

    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(String(SHOP_ID_MAX), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    webhook_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    secret: Mapped[str] = mapped_column(String(128))
    """Current webhook signing secret (kept to sign; shown only when made)."""
    previous_secret: Mapped[str | None] = mapped_column(String(128), default=None)
    """The secret before the last rotation; still signs until ``previous_until``."""
    previous_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    window_start: Mapped[str] = mapped_column(String(5), default="09:00")
    window_end: Mapped[str] = mapped_column(String(5), default="21:00")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    max_concurrent: Mapped[int] = mapped_column(Integer, default=2)
    caller_id: Mapped[str | None] = mapped_column(String(32), default=None)
    """The number presented to customers (the shop's hotline)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DoNotCall(Base):
    """A number we must never dial: for one shop, or for every shop (``shop`` empty)."""

    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("phone", "shop", name="uq_do_not_call_phone_shop"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    """E.164."""
    shop: Mapped[str] = mapped_column(String(SHOP_ID_MAX), default="")
    """Empty: every shop."""
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
