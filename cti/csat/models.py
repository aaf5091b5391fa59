from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class CsatRating(Base):
    """A caller's rating of one call: at most one per call (Linkedid), 1 (worst) to 5."""

    __tablename__ = "csat_ratings"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_1_to_5"),
        # The figures read one agent's or one queue's ratings over a time range.
        Index("ix_csat_ratings_agent_rated_at", "agent", "rated_at"),
        Index("ix_csat_ratings_queue_rated_at", "queue", "rated_at"),
        # The queue statistics read the ratings from the period's start on.
        Index("ix_csat_ratings_rated_at", "rated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    agent: Mapped[str | None] = mapped_column(String(80), default=None)
    """Interface of the agent who took the call (``PJSIP/1001``)."""
    queue: Mapped[str | None] = mapped_column(String(80), default=None)
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    uniqueid: Mapped[str] = mapped_column(String(64))
    """The caller's channel that pressed the key."""
