from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AfterValidator

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import optional_in_service_range
from cti.calls.schemas import CallDetailOut, CallNoteIn, CallNoteOut, CallNotesOut, CallPage
from cti.calls.service import CallFilter, call_notes, get_call, list_calls, save_call_note
from cti.errors import InvalidInput, NotFound
from cti.http.deps import ClockDep, LiveCallsDep, SessionDep, require_any, require_scope
from cti.http.errors import error_responses
from cti.http.params import Offset
from cti.http.routing import AuthFirstRoute

router = APIRouter(
    prefix="/api/v1/calls",
    tags=["calls"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Reader = Annotated[Principal, Depends(require_scope(Scope.STATS_READ))]
Desk = Annotated[Principal, Depends(require_any(Scope.TICKETS_WRITE, Scope.AGENT))]
AgentOnly = Annotated[Principal, Depends(require_any(Scope.AGENT))]
Linkedid = Annotated[str, Path(pattern=r"^[0-9A-Za-z._-]{1,64}$")]
SinceUntil = Annotated[datetime | None, AfterValidator(optional_in_service_range)]
OutcomeParam = Literal["answered", "abandoned", "timeout", "not_queued"]


@router.get("", response_model=CallPage, summary="Active calls and call history")
async def calls_index(
    _: Reader,
    live_calls: LiveCallsDep,
    session: SessionDep,
    since: Annotated[SinceUntil, Query(description="calls started at or after")] = None,
    until: Annotated[SinceUntil, Query(description="calls started before")] = None,
    caller: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=80)] = None,
    queue: Annotated[str | None, Query(max_length=80)] = None,
    outcome: OutcomeParam | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> CallPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"invalid {name}: give a time zone, e.g. 2026-11-23T09:00:00+08:00")
    f = CallFilter(
        since=since, until=until, caller=caller, agent=agent, queue=queue, outcome=outcome
    )
    items, total = await list_calls(session, f, limit, offset)
    active = [
        c
        for c in live_calls.all()
        if (caller is None or c.caller_number == caller)
        and (agent is None or c.agent == agent)
        and (queue is None or c.queue == queue)
    ]
    return CallPage(items=items, active=active, total=total, limit=limit, offset=offset)


@router.get(
    "/{call_id}",
    response_model=CallDetailOut,
    summary="One call with its timeline",
    responses=error_responses(404),
)
async def call_detail(
    call_id: str, _: Reader, live_calls: LiveCallsDep, session: SessionDep
) -> CallDetailOut:
    if len(call_id) > 64:
        raise NotFound(f"no call {call_id[:64]!r}")
    live = live_calls.get(call_id)
    if live is not None:
        return live
    found = await get_call(session, call_id)
    if found is None:
        raise NotFound(f"no call {call_id!r}")
    return found


@router.put(
    "/{linkedid}/note",
    response_model=CallNoteOut,
    summary="The agent's own notes and disposition for a call (saving again replaces them)",
)
async def put_call_note(
    linkedid: Linkedid, body: CallNoteIn, who: AgentOnly, clock: ClockDep, session: SessionDep
) -> CallNoteOut:
    assert who.agent_extension is not None  # agent tokens are always bound
    async with session.begin():
        row = await save_call_note(
            session, linkedid=linkedid, agent=who.agent_extension, data=body, now=clock.now()
        )
    return CallNoteOut.model_validate(row)


@router.get("/{linkedid}/notes", response_model=CallNotesOut, summary="Notes of a call")
async def get_call_notes(linkedid: Linkedid, _: Desk, session: SessionDep) -> CallNotesOut:
    rows = await call_notes(session, linkedids=[linkedid])
    return CallNotesOut(items=[CallNoteOut.model_validate(r) for r in rows])
