from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cti.db.base import Base, UtcDateTime


class Ticket(Base):
    """A work order: something the desk owes a customer, until it is closed."""

    __tablename__ = "tickets"
    __table_args__ = (
        # Open tickets of a customer (screen-pop) and the back desk's callback list.
        Index("ix_tickets_customer_id_status", "customer_id", "status"),
        Index("ix_tickets_type_status_due_at", "type", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee: Mapped[str | None] = mapped_column(String(20), index=True, default=None)
    """Extension of the agent who works on it."""
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    """The call it came from (Asterisk's Linkedid)."""
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), default=None
    )
    shop: Mapped[str | None] = mapped_column(String(64), default=None)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    caller_number: Mapped[str | None] = mapped_column(String(64), default=None)
    recording_path: Mapped[str | None] = mapped_column(String(500), default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )


class TicketEvent(Base):
    """Something that happened to a ticket: created, a comment, a status or assignee change."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_customer_id_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(default=None)
    """Copied from the ticket, so a customer's history is one indexed read."""
    kind: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    """The call this event is about (a callback made from the ticket), with its recordings."""

    ticket: Mapped[Ticket] = relationship(back_populates="events")
