"""Tickets: create, change, comment, list; every change is a ticket event.

Ticket events carry the customer id, so the next screen-pop of that customer
shows them in the history with one indexed read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cti.customers.phones import PhoneNormalizer
from cti.customers.service import customer_exists, find_by_phone
from cti.errors import InvalidInput
from cti.orders.service import orders_by_id
from cti.tickets.models import Ticket, TicketEvent
from cti.tickets.schemas import (
    TicketIn,
    TicketPatch,
    TicketStatus,
    TicketType,
)


class TicketError(InvalidInput):
    """A ticket request that cannot be done (the message says why)."""


def _event(
    ticket: Ticket, kind: str, body: str, actor: str, at: datetime, linkedid: str | None = None
) -> TicketEvent:
    ev = TicketEvent(
        kind=kind,
        body=body,
        actor=actor[:100],
        at=at,
        customer_id=ticket.customer_id,
        linkedid=linkedid,
    )
    ticket.events.append(ev)
    return ev


async def _resolve_order(session: AsyncSession, order_id: str, shop: str | None) -> tuple[str, int]:
    """The shop and customer of the order a ticket is about."""
    rows = await orders_by_id(session, order_id=order_id, shop=shop, limit=2)
    if not rows:
        raise TicketError(f"no order {order_id!r}" + (f" of shop {shop!r}" if shop else ""))
    if len(rows) > 1:
        raise TicketError(f"order {order_id!r} exists in several shops; give 'shop'")
    return rows[0].shop, rows[0].customer_id


async def create_ticket(
    session: AsyncSession, *, data: TicketIn, actor: str, phones: PhoneNormalizer, now: datetime
) -> Ticket:
    """Open a ticket, linked to the customer of its order, id or caller number."""
    shop = data.shop
    customer_id = data.customer_id
    if data.order_id is not None:
        shop, order_customer = await _resolve_order(session, data.order_id, data.shop)
        if customer_id is None:
            customer_id = order_customer
    if customer_id is None and data.caller_number:
        customer = await find_by_phone(session, phones=phones, number=data.caller_number)
        customer_id = customer.id if customer is not None else None
    elif customer_id is not None and not await customer_exists(session, customer_id=customer_id):
        raise TicketError(f"no customer {customer_id}")
    ticket = Ticket(
        type=data.type.value,
        status=data.status.value,
        title=data.title,
        description=data.description,
        assignee=data.assignee,
        due_at=data.due_at,
        linkedid=data.linkedid,
        customer_id=customer_id,
        shop=shop,
        order_id=data.order_id,
        caller_number=data.caller_number,
        created_by=actor[:100],
        created_at=now,
        updated_at=now,
        closed_at=now if data.status is TicketStatus.CLOSED else None,
        events=[],
    )
    session.add(ticket)
    _event(ticket, "created", data.title, actor, now)
    await session.flush()
    return ticket


async def create_callback_ticket(
    session: AsyncSession,
    *,
    phones: PhoneNormalizer,
    caller_number: str | None,
    recording_path: str | None,
    linkedid: str | None,
    note: str = "",
    due_at: datetime | None = None,
    now: datetime,
) -> Ticket:
    """A callback task from a voicemail, for the back desk's next shift."""
    customer = await find_by_phone(session, phones=phones, number=caller_number)
    number = (caller_number or "").strip()[:64] or None
    ticket = Ticket(
        type=TicketType.CALLBACK.value,
        status=TicketStatus.OPEN.value,
        title=f"回电 {number or '未知号码'}",
        description=note[:4000],
        due_at=due_at,
        linkedid=(linkedid or None) and linkedid[:64],
        customer_id=customer.id if customer is not None else None,
        caller_number=number,
        recording_path=(recording_path or None) and recording_path[:500],
        created_by="voicemail",
        created_at=now,
        updated_at=now,
        events=[],
    )
    session.add(ticket)
    _event(ticket, "created", ticket.title, "voicemail", now)
    await session.flush()
    return ticket


async def get_ticket(
    session: AsyncSession, ticket_id: int, *, visible_to: str | None = None
) -> Ticket | None:
    """The ticket with its events; with ``visible_to`` (an agent's extension) only if it
    is assigned to that agent (another agent's ticket is, for them, not there)."""
    stmt = select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.events))
    if visible_to is not None:
        stmt = stmt.where(Ticket.assignee == visible_to)
    found: Ticket | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def update_ticket(
    session: AsyncSession, *, ticket: Ticket, patch: TicketPatch, actor: str, now: datetime
) -> Ticket:
    fields = patch.model_fields_set
    changed = False
    if "status" in fields and patch.status is not None and patch.status.value != ticket.status:
        _event(ticket, "status", f"{ticket.status} → {patch.status.value}", actor, now)
        ticket.status = patch.status.value
        ticket.closed_at = now if patch.status is TicketStatus.CLOSED else None
        changed = True
    if "assignee" in fields and patch.assignee != ticket.assignee:
        _event(ticket, "assigned", patch.assignee or "", actor, now)
        ticket.assignee = patch.assignee
        changed = True
    for name in ("due_at", "title", "description"):
        if name in fields and getattr(patch, name) is not None:
            value = getattr(patch, name)
            if value != getattr(ticket, name):
                setattr(ticket, name, value)
                _event(ticket, "updated", name, actor, now)
                changed = True
    if changed:
        ticket.updated_at = now
    await session.flush()
    return ticket


async def record_call(
    session: AsyncSession,
    *,
    ticket: Ticket,
    linkedid: str,
    body: str,
    actor: str,
    done: bool,
    due_again: datetime | None,
    now: datetime,
) -> None:
    """A call made about ``ticket`` goes on its history (with the call's id, so its
    recording is one click away). ``done``: the task is closed; ``due_again``: it goes
    back on the callback list, due then."""
    await session.refresh(ticket, ["events"])
    _event(ticket, "call", body, actor, now, linkedid=linkedid)
    if done and ticket.status != TicketStatus.CLOSED.value:
        _event(ticket, "status", f"{ticket.status} → {TicketStatus.CLOSED.value}", actor, now)
        ticket.status = TicketStatus.CLOSED.value
        ticket.closed_at = now
    elif due_again is not None and ticket.status != TicketStatus.CLOSED.value:
        ticket.due_at = due_again
        _event(ticket, "updated", "due_at", actor, now)
    ticket.updated_at = now
    await session.flush()


async def add_comment(
    session: AsyncSession, *, ticket: Ticket, body: str, actor: str, now: datetime
) -> TicketEvent:
    ev = _event(ticket, "comment", body, actor, now)
    ticket.updated_at = now
    await session.flush()
    return ev


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: Sequence[str] = ()
    type: str | None = None
    assignee: str | None = None
    customer_id: int | None = None
    linkedid: str | None = None
    open_only: bool = False
    visible_to: str | None = None
    """An agent's extension: only the tickets assigned to that agent (None: everyone's)."""


def _filtered(stmt: Select[Any], f: TicketFilter) -> Select[Any]:
    if f.status:
        stmt = stmt.where(Ticket.status.in_(list(f.status)))
    if f.open_only:
        stmt = stmt.where(Ticket.status != TicketStatus.CLOSED.value)
    if f.type:
        stmt = stmt.where(Ticket.type == f.type)
    if f.assignee:
        stmt = stmt.where(Ticket.assignee == f.assignee)
    if f.customer_id is not None:
        stmt = stmt.where(Ticket.customer_id == f.customer_id)
    if f.linkedid:
        stmt = stmt.where(Ticket.linkedid == f.linkedid)
    if f.visible_to is not None:
        stmt = stmt.where(Ticket.assignee == f.visible_to)
    return stmt


async def list_tickets(
    session: AsyncSession, f: TicketFilter, limit: int = 50, offset: int = 0, by_due: bool = False
) -> tuple[list[Ticket], int]:
    total = await session.scalar(
        _filtered(select(Ticket), f).with_only_columns(func.count(Ticket.id))
    )
    order = (
        (Ticket.due_at.is_(None), Ticket.due_at, Ticket.created_at, Ticket.id)
        if by_due
        else (Ticket.created_at.desc(), Ticket.id.desc())
    )
    stmt = _filtered(select(Ticket), f).order_by(*order).limit(limit).offset(offset)
    rows: list[Ticket] = list((await session.execute(stmt)).scalars())
    return rows, int(total or 0)


async def open_tickets(session: AsyncSession, *, customer_id: int, limit: int = 10) -> list[Ticket]:
    """A customer's tickets not yet closed, newest first (``ix_tickets_customer_id_status``)."""
    stmt = (
        _filtered(select(Ticket), TicketFilter(customer_id=customer_id, open_only=True))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def customer_ticket_events(
    session: AsyncSession, *, customer_id: int, limit: int = 10
) -> list[tuple[TicketEvent, Ticket]]:
    """What happened lately to a customer's tickets, newest first, with the ticket."""
    rows = await session.execute(
        select(TicketEvent, Ticket)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(TicketEvent.customer_id == customer_id)
        .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
        .limit(limit)
    )
    return [(ev, t) for ev, t in rows]
