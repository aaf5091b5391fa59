"""Agent state history: every state change, so time per state is known for any period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class AgentStateRecord(Base):
    """An agent entered ``state`` at ``at`` (and stayed until its next row).

    A pause with a new reason is a row of its own (state ``paused`` again), so pause
    time splits by reason. ``paused_reason`` is ``""`` when there is none: a unique
    key with a NULL would not stop a replayed trace from writing the row twice.
    """

    __tablename__ = "agent_states"
    __table_args__ = (
        UniqueConstraint("interface", "at", "state", "paused_reason"),
        Index("ix_agent_states_at", "at"),
        # A queue's agents, one index probe each (cti.stats.queries.queue_members).
        Index("ix_agent_states_queue_interface_at", "queue", "interface", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interface: Mapped[str] = mapped_column(String(80))
    member_name: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    paused_reason: Mapped[str] = mapped_column(String(80), default="", server_default="")
    queue: Mapped[str | None] = mapped_column(String(80))
    """The queue whose event caused the change, when there was one (informational)."""
