from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import ONE_LINE, Offset, RowId
from cti.errors import NotFound
from cti.http.deps import ClockDep, PhonesDep, SessionDep, require_any
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.tickets.models import Ticket
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
_MISSING_OR_NOT_JSON = error_responses(400, 404)


Desk = Annotated[Principal, Depends(require_any(Scope.TICKETS_WRITE, Scope.AGENT))]
TicketId = Annotated[RowId, Path()]


def mine(principal: Principal) -> str | None:
    """The agent whose tickets alone this token sees and changes; None: the back desk's
    ``tickets:write`` sees every ticket."""
    return principal.own_extension(Scope.TICKETS_WRITE)


def actor(principal: Principal) -> str:
    if principal.has(Scope.AGENT) and principal.agent_extension:
        return f"agent {principal.agent_extension}"
    return principal.name


async def _visible_ticket(session: AsyncSession, ticket_id: int, who: Principal) -> Ticket:
    """The ticket, if this token may see it (404 otherwise: another agent's is not there)."""
    ticket = await get_ticket(session, ticket_id, visible_to=mine(who))
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


def _out(ticket: object) -> TicketOut:
    return TicketOut.model_validate(ticket)


@router.post(
    "",
    response_model=TicketDetailOut,
    status_code=201,
    summary="Open a ticket",
    description="An agent's ticket is assigned to that agent unless it names another "
    "assignee (handing it over).",
    responses=error_responses(400),
)
async def ticket_create(
    body: TicketIn, who: Desk, phones: PhonesDep, clock: ClockDep, session: SessionDep
) -> TicketDetailOut:
    own = mine(who)
    if own and body.assignee is None:
        body = body.model_copy(update={"assignee": own})
    async with session.begin():
        ticket = await create_ticket(
            session, data=body, actor=actor(who), phones=phones, now=clock.now()
        )
    return TicketDetailOut.model_validate(await get_ticket(session, ticket.id))


@router.get(
    "",
    response_model=TicketPage,
    summary="Tickets, newest first, with filters",
    description="An agent token lists only the tickets assigned to it.",
)
async def ticket_index(
    who: Desk,
    session: SessionDep,
    status: Annotated[list[TicketStatus] | None, Query()] = None,
    type: TicketType | None = None,
    assignee: Annotated[str | None, Query(pattern=r"^[0-9]{2,20}$")] = None,
    customer_id: Annotated[RowId | None, Query()] = None,
    linkedid: Annotated[str | None, Query(max_length=64, pattern=ONE_LINE)] = None,
    open: Annotated[bool, Query(description="only tickets not closed")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> TicketPage:
    f = TicketFilter(
        status=[s.value for s in status or []],
        type=type.value if type else None,
        assignee=assignee,
        customer_id=customer_id,
        linkedid=linkedid,
        open_only=open,
        visible_to=mine(who),
    )
    items, total = await list_tickets(session, f, limit, offset)
    return TicketPage(items=[_out(t) for t in items], total=total, limit=limit, offset=offset)


@router.get(
    "/callbacks",
    response_model=TicketPage,
    summary="The back desk's callback list: open callback tasks, earliest due first",
    description="An agent token lists only the callbacks assigned to it (callers' "
    "numbers and recordings are the back desk's until it hands a callback out).",
)
async def callbacks(
    who: Desk,
    session: SessionDep,
    assignee: Annotated[str | None, Query(pattern=r"^[0-9]{2,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> TicketPage:
    f = TicketFilter(
        type=TicketType.CALLBACK.value, assignee=assignee, open_only=True, visible_to=mine(who)
    )
    items, total = await list_tickets(session, f, limit, offset, by_due=True)
    return TicketPage(items=[_out(t) for t in items], total=total, limit=limit, offset=offset)


@router.get(
    "/{ticket_id:int}",
    response_model=TicketDetailOut,
    summary="One ticket with its events",
    responses=_MISSING,
)
async def ticket_detail(ticket_id: TicketId, who: Desk, session: SessionDep) -> TicketDetailOut:
    ticket = await _visible_ticket(session, ticket_id, who)
    return TicketDetailOut.model_validate(ticket)


@router.patch(
    "/{ticket_id:int}",
    response_model=TicketDetailOut,
    summary="Change status, assignee, due time, title or description",
    description="Scope tickets:write; an agent token may change tickets assigned to itself "
    "(and hand them over to another assignee).",
    responses=_MISSING_OR_NOT_JSON,
)
async def ticket_patch(
    ticket_id: TicketId, body: TicketPatch, who: Desk, clock: ClockDep, session: SessionDep
) -> TicketDetailOut:
    async with session.begin():
        ticket = await _visible_ticket(session, ticket_id, who)
        await update_ticket(session, ticket=ticket, patch=body, actor=actor(who), now=clock.now())
    return TicketDetailOut.model_validate(await get_ticket(session, ticket_id))


@router.post(
    "/{ticket_id:int}/comments",
    response_model=TicketEventOut,
    status_code=201,
    summary="Add a comment",
    responses=_MISSING_OR_NOT_JSON,
)
async def ticket_comment(
    ticket_id: TicketId, body: CommentIn, who: Desk, clock: ClockDep, session: SessionDep
) -> TicketEventOut:
    async with session.begin():
        ticket = await _visible_ticket(session, ticket_id, who)
        ev = await add_comment(
            session, ticket=ticket, body=body.body, actor=actor(who), now=clock.now()
        )
    return TicketEventOut.model_validate(ev)
