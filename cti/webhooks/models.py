"""The delivery log: one row per webhook event, one per attempt to POST it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cti.db.base import Base, UtcDateTime

EVENT_TYPE_MAX = 64
ERROR_MAX = 300


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Not yet answered with a 2xx; retried with backoff."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up: every attempt spent, or the shop has no usable webhook URL."""


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_shop_created_at", "shop", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    """uuid4, in the body and ``X-CTI-Event-Id``: the receiver's de-duplication key."""
    shop: Mapped[str] = mapped_column(String(64))
    confirmation_id: Mapped[int | None] = mapped_column(
        ForeignKey("confirmations.id", ondelete="SET NULL"), index=True, default=None
    )
    event_type: Mapped[str] = mapped_column(String(EVENT_TYPE_MAX))
    body: Mapped[str] = mapped_column(Text)
    """The canonical JSON sent, serialised once: every retry sends these exact bytes (UTF-8)."""
    status: Mapped[str] = mapped_column(String(10), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    """The receiver's last HTTP status; None when it did not answer."""
    last_error: Mapped[str | None] = mapped_column(String(ERROR_MAX), default=None)
    """Why the last attempt failed, in a few words: no URL, no secret, no signature."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    attempt_rows: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery",
        order_by="WebhookAttempt.n",
        cascade="all, delete-orphan",
    )


class WebhookAttempt(Base):
    """One POST to the shop (or one refusal to send, e.g. no URL)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "n"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    n: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(ERROR_MAX), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_rows")
