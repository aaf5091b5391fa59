from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class HotlineDay(Base):
    """A day that breaks a hotline's weekly hours: a holiday or a make-up working day (调休)."""

    __tablename__ = "hotline_days"
    __table_args__ = (UniqueConstraint("hotline", "day", name="uq_hotline_days_hotline_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``holiday`` or ``workday``."""
    name: Mapped[str] = mapped_column(String(100), default="")
    hours: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    """Opening ranges that day (``["10:00-16:00"]``); NULL: closed, or a working day's hours."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
