from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import DB_INT_MAX
from cti.errors import Forbidden, NotFound
from cti.http.deps import ClockDep, PhonesDep, SessionDep, require_any
from cti.http.errors import error_responses
from cti.http.params import Offset
from cti.http.routing import AuthFirstRoute
from cti.tickets.schemas import (
    CommentIn,
    TicketDetailOut,
    TicketEventOut,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketStatus,
    TicketType,
)
from cti.tickets.service import (
    TicketFilter,
    add_comment,
    create_ticket,
    get_ticket,
    list_tickets,
    update_ticket,
)

router = APIRouter(
    prefix="/api/v1/tickets",
    tags=["tickets"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)
_MISSING = error_responses(404)


Desk = Annotated[Principal, Depends(require_any(Scope.TICKETS_WRITE, Scope.AGENT))]
# ``{ticket_id:int}`` in the paths: ``/callbacks`` is then no ticket id, and a wrong
# method on it is 405, not 422.
TicketId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


def actor(principal: Principal) -> str:
    if principal.has(Scope.AGENT) and principal.agent_extension:
        return f"agent {principal.agent_extension}"
    return principal.name


def _out(ticket: object) -> TicketOut:
    return TicketOut.model_validate(ticket)


@router.post("", response_model=TicketDetailOut, status_code=201, summary="Open a ticket")
async def ticket_create(
    body: TicketIn, who: Desk, phones: PhonesDep, clock: ClockDep, session: SessionDep
) -> TicketDetailOut:
    async with session.begin():
        ticket = await create_ticket(
            session, data=body, actor=actor(who), phones=phones, now=clock.now()
        )
    return TicketDetailOut.model_validate(await get_ticket(session, ticket.id))


@router.get("", response_model=TicketPage, summary="Tickets, newest first, with filters")
async def ticket_index(
    _: Desk,
    session: SessionDep,
    status: Annotated[list[TicketStatus] | None, Query()] = None,
    type: TicketType | None = None,
    assignee: Annotated[str | None, Query(pattern=r"^[0-9]{2,20}$")] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    linkedid: Annotated[str | None, Query(max_length=64)] = None,
    open: Annotated[bool, Query(description="only tickets not closed")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> TicketPage:
    f = TicketFilter(
        status=[s.value for s in status or []],
        type=type.value if type else None,
        assignee=assignee,
        customer_id=customer_id,
        linkedid=linkedid,
        open_only=open,
    )
    items, total = await list_tickets(session, f, limit, offset)
    return TicketPage(items=[_out(t) for t in items], total=total, limit=limit, offset=offset)


@router.get(
    "/callbacks",
    response_model=TicketPage,
    summary="The back desk's callback list: open callback tasks, earliest due first",
)
async def callbacks(
    _: Desk,
    session: SessionDep,
    assignee: Annotated[str | None, Query(pattern=r"^[0-9]{2,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> TicketPage:
    f = TicketFilter(type=TicketType.CALLBACK.value, assignee=assignee, open_only=True)
    items, total = await list_tickets(session, f, limit, offset, by_due=True)
    return TicketPage(items=[_out(t) for t in items], total=total, limit=limit, offset=offset)


@router.get(
    "/{ticket_id:int}",
    response_model=TicketDetailOut,
    summary="One ticket with its events",
    responses=_MISSING,
)
async def ticket_detail(ticket_id: TicketId, _: Desk, session: SessionDep) -> TicketDetailOut:
    ticket = await get_ticket(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return TicketDetailOut.model_validate(ticket)


@router.patch(
    "/{ticket_id:int}",
    response_model=TicketDetailOut,
    summary="Change status, assignee, due time, title or description",
    description="Scope tickets:write; an agent token may change tickets assigned to itself.",
    responses=_MISSING,
)
async def ticket_patch(
    ticket_id: TicketId, body: TicketPatch, who: Desk, clock: ClockDep, session: SessionDep
) -> TicketDetailOut:
    async with session.begin():
        ticket = await get_ticket(session, ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id}")
        if not who.has(Scope.TICKETS_WRITE) and ticket.assignee != who.agent_extension:
            raise Forbidden("an agent may change only tickets assigned to itself")
        await update_ticket(session, ticket=ticket, patch=body, actor=actor(who), now=clock.now())
    return TicketDetailOut.model_validate(await get_ticket(session, ticket_id))


@router.post(
    "/{ticket_id:int}/comments",
    response_model=TicketEventOut,
    status_code=201,
    summary="Add a comment",
    responses=_MISSING,
)
async def ticket_comment(
    ticket_id: TicketId, body: CommentIn, who: Desk, clock: ClockDep, session: SessionDep
) -> TicketEventOut:
    async with session.begin():
        ticket = await get_ticket(session, ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id}")
        ev = await add_comment(
            session, ticket=ticket, body=body.body, actor=actor(who), now=clock.now()
        )
    return TicketEventOut.model_validate(ev)
