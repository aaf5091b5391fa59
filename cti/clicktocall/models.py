from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class AgentCallStatus(StrEnum):
    RINGING_AGENT = "ringing_agent"
    """Asterisk rings the agent's own phone; the customer is dialled once it answers."""
    ANSWERED = "answered"
    """The customer answered: agent and customer talked."""
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    """The customer's line could not be reached (congestion, unavailable, an error)."""
    AGENT_NO_ANSWER = "agent_no_answer"
    """The agent's phone was not answered, so the customer was never dialled."""
    CANCELLED = "cancelled"
    """The agent hung up while the customer's phone rang."""


FINAL = frozenset(AgentCallStatus) - {AgentCallStatus.RINGING_AGENT}
REACHED = frozenset({AgentCallStatus.ANSWERED})


class AgentCall(Base):
    """A call an agent placed from the desktop, by the call's id (our ``ChannelId``)."""

    __tablename__ = "agent_calls"
    __table_args__ = (Index("ix_agent_calls_agent_requested_at", "agent", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    """The call's Linkedid: the ``ChannelId`` given to Asterisk's Originate."""
    agent: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(32))
    """The customer's number, E.164."""
    shop: Mapped[str | None] = mapped_column(String(64), default=None)
    order_id: Mapped[str | None] = mapped_column(String(64), default=None)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True, default=None
    )
    caller_id: Mapped[str] = mapped_column(String(80))
    """The number presented to the customer (the shop's, else the hotline's)."""
    status: Mapped[str] = mapped_column(String(20), default=AgentCallStatus.RINGING_AGENT.value)
    customer_dial: Mapped[str | None] = mapped_column(String(20), default=None)
    talk_s: Mapped[float | None] = mapped_column(default=None)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
