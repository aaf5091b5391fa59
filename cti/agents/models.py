from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class Agent(Base):
    """A person at a phone: extension ``1001`` rings ``PJSIP/1001``.

    ``skills`` are the queue names the agent joins at login; ``wrapup_s``
    overrides the default wrap-up time (None: use the default).
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    extension: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    interface: Mapped[str] = mapped_column(String(80), index=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    wrapup_s: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
