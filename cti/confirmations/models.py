"""Confirmation calls a shop asked for, and every attempt to reach the customer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cti.db.base import Base, UtcDateTime

PUBLIC_ID_MAX = 40
IDEMPOTENCY_KEY_MAX = 255


class ConfirmationStatus(StrEnum):
    QUEUED = "queued"
    """Waiting for its turn (window, concurrency, retry backoff)."""
    DIALLING = "dialling"
    """An attempt is in progress."""
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    """The customer pressed 2: the order is to be cancelled."""
    TRANSFERRED = "transferred"
    """The customer pressed 0 and was put through to the hotline queue."""
    NOT_CONFIRMED = "not_confirmed"
    """Answered, but no valid digit (answering machines included)."""
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    DO_NOT_CALL = "do_not_call"
    """The number is on the do-not-call list: never dialled."""
    WITHDRAWN = "withdrawn"
    """The shop cancelled the request before it was dialled (``DELETE``)."""


FINAL = frozenset(
    {
        ConfirmationStatus.CONFIRMED,
        ConfirmationStatus.CANCELLED,
        ConfirmationStatus.TRANSFERRED,
        ConfirmationStatus.NOT_CONFIRMED,
        ConfirmationStatus.NO_ANSWER,
        ConfirmationStatus.BUSY,
        ConfirmationStatus.FAILED,
        ConfirmationStatus.DO_NOT_CALL,
        ConfirmationStatus.WITHDRAWN,
    }
)


class Confirmation(Base):
    __tablename__ = "confirmations"
    __table_args__ = (
        UniqueConstraint("shop", "idempotency_key", name="uq_confirmations_shop_idempotency_key"),
        Index("ix_confirmations_shop_created_at", "shop", "created_at"),
        Index("ix_confirmations_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_MAX), unique=True)
    shop: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    """E.164."""
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What is read to the customer: ``{"amount": "2300.50", "item_count": 3, "reason": ...}``."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    idempotency_key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX))
    """The shop's key; after ``CTI_CONFIRM_IDEMPOTENCY_KEEP_H`` a space and the public id
    (:mod:`cti.confirmations.keys`), so the shop may use its key again."""
    request_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the canonical request body: the same key with another body is 409
    ("" once the key is forgotten)."""
    first_response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The body of the first answer, returned again for the same key and body ({} once
    the key is forgotten)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    attempt_rows: Mapped[list[ConfirmationAttempt]] = relationship(
        back_populates="confirmation",
        order_by="ConfirmationAttempt.n",
        cascade="all, delete-orphan",
    )


class ConfirmationAttempt(Base):
    """One dialling of the customer."""

    __tablename__ = "confirmation_attempts"
    __table_args__ = (UniqueConstraint("confirmation_id", "n"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    confirmation_id: Mapped[int] = mapped_column(
        ForeignKey("confirmations.id", ondelete="CASCADE"), index=True
    )
    n: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)
    """The ``ChannelId`` we gave Originate: the call's uniqueid (and Linkedid)."""
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    result: Mapped[str | None] = mapped_column(String(16), default=None)
    """answered, busy, no_answer, failed, congestion, hangup."""
    originate_reason: Mapped[int | None] = mapped_column(Integer, default=None)
    digit: Mapped[str | None] = mapped_column(String(1), default=None)
    hangup_cause: Mapped[int | None] = mapped_column(Integer, default=None)
    """Q.850 cause of the channel's end, when the tracker saw it (17 busy, 19 no answer)."""

    confirmation: Mapped[Confirmation] = relationship(back_populates="attempt_rows")
