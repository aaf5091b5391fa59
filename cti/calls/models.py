from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cti.db.base import Base, UtcDateTime


class CallRecord(Base):
    """One finished call, keyed by Asterisk's Linkedid."""

    __tablename__ = "calls"
    # Queue statistics scan one queue's calls by the time they were offered.
    __table_args__ = (Index("ix_calls_queue_offered_at", "queue", "offered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    caller_number: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_name: Mapped[str | None] = mapped_column(String(200))
    dnis: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(80), index=True)
    agent: Mapped[str | None] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(10), default="inbound", server_default="inbound")
    """``inbound`` (the hotline) or ``outbound`` (a confirmation call, an agent's callback)."""
    order_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """The order the call was about, when the dialplan said (``CTI_ORDER_ID``)."""
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    """When the call was offered to ``queue``: queue_log's ENTERQUEUE (the last one before
    the answer), or the Dial to the preferred agent the hotline rang outside the queue.
    None: never offered (hung up in the IVR, an outbound or internal call)."""
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    wrapup_s: Mapped[float | None] = mapped_column(Float, default=None)
    """The wrap-up app_queue held the answering agent for after the call (its Wrapuptime)."""
    transfers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    voicemail: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """The caller reached the voicemail app (queue overflow, closed hours)."""

    events: Mapped[list[CallEventRecord]] = relationship(
        back_populates="call",
        order_by="CallEventRecord.seq",
        cascade="all, delete-orphan",
    )


class CallEventRecord(Base):
    """One domain event on a call's timeline."""

    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("call_id", "seq"),
        # The statistics' rings an agent let go unanswered: a few per cent of the events.
        Index(
            "ix_call_events_ring_no_answer",
            "call_id",
            postgresql_where=text("type = 'agent_ring_no_answer'"),
            sqlite_where=text("type = 'agent_ring_no_answer'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[CallRecord] = relationship(back_populates="events")


class CallNote(Base):
    """An agent's notes and disposition for one call."""

    __tablename__ = "call_notes"
    __table_args__ = (UniqueConstraint("linkedid", "agent", name="uq_call_notes_linkedid_agent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Found by linkedid through the unique (linkedid, agent) index.
    linkedid: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(20))
    disposition: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
