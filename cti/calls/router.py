from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import ONE_LINE, Offset, Timestamp
from cti.calls.schemas import CallDetailOut, CallNoteIn, CallNoteOut, CallNotesOut, CallPage
from cti.calls.service import (
    CallFilter,
    call_notes,
    get_call,
    list_calls,
    save_call_note,
    took_call,
)
from cti.csat.service import call_rating
from cti.errors import NotFound
from cti.http.deps import (
    ClockDep,
    LiveCallsDep,
    RecordingsDep,
    SessionDep,
    require_any,
    require_scope,
)
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.recordings.service import call_recordings

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
CallId = Annotated[str, Path(max_length=64, pattern=ONE_LINE)]
OutcomeParam = Literal["answered", "abandoned", "timeout", "not_queued"]


@router.get("", response_model=CallPage, summary="Active calls and call history")
async def calls_index(
    _: Reader,
    live_calls: LiveCallsDep,
    session: SessionDep,
    since: Annotated[Timestamp | None, Query(description="calls started at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="calls started before")] = None,
    caller: Annotated[str | None, Query(max_length=64, pattern=ONE_LINE)] = None,
    agent: Annotated[str | None, Query(max_length=80, pattern=ONE_LINE)] = None,
    queue: Annotated[str | None, Query(max_length=80, pattern=ONE_LINE)] = None,
    outcome: OutcomeParam | None = None,
    direction: Annotated[
        Literal["inbound", "outbound"] | None,
        Query(description="outbound: confirmation calls and agents' callbacks"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> CallPage:
    f = CallFilter(
        since=since,
        until=until,
        caller=caller,
        agent=agent,
        queue=queue,
        outcome=outcome,
        direction=direction,
    )
    items, total = await list_calls(session, f, limit, offset)
    active = [
        c
        for c in live_calls.all()
        if (caller is None or c.caller_number == caller)
        and (agent is None or c.agent == agent)
        and (queue is None or c.queue == queue)
        and (direction is None or c.direction == direction)
    ]
    return CallPage(items=items, active=active, total=total, limit=limit, offset=offset)


@router.get(
    "/{call_id}",
    response_model=CallDetailOut,
    summary="One call with its timeline and recordings",
    description="`recordings`: the catalogued ones in segment order, and those still being "
    "written (status `recording`: those of a call in progress, or waiting to be catalogued). "
    "`csat`: the caller's rating 1-5 after the agent hung up, or null.",
    responses=error_responses(404),
)
async def call_detail(
    call_id: CallId,
    _: Reader,
    live_calls: LiveCallsDep,
    recordings: RecordingsDep,
    session: SessionDep,
) -> CallDetailOut:
    live = live_calls.get(call_id)
    found = live if live is not None else await get_call(session, call_id)
    if found is None:
        raise NotFound(f"no call {call_id!r}")
    found.recordings = await call_recordings(
        session, recordings.key, call_id, found.timeline, live=live is not None
    )
    # Also while the call is live: the caller may have pressed the key moments ago.
    found.csat = await call_rating(session, call_id)
    return found


def _not_taken(linkedid: str, extension: str) -> NotFound:
    # The same answer whether the call exists or not: an agent learns nothing of others'.
    return NotFound(f"no call {linkedid!r} taken by agent {extension}")


@router.put(
    "/{linkedid}/note",
    response_model=CallNoteOut,
    summary="The agent's own notes and disposition for a call (saving again replaces them)",
    description="Only on a call this agent took (answered): live, just ended or recorded.",
    responses=error_responses(400, 404),
)
async def put_call_note(
    linkedid: Linkedid,
    body: CallNoteIn,
    who: AgentOnly,
    live_calls: LiveCallsDep,
    clock: ClockDep,
    session: SessionDep,
) -> CallNoteOut:
    assert who.agent_extension is not None  # the agent scope needs an extension
    async with session.begin():
        if not await took_call(session, live_calls, linkedid, who.agent_extension):
            raise _not_taken(linkedid, who.agent_extension)
        row = await save_call_note(
            session, linkedid=linkedid, agent=who.agent_extension, data=body, now=clock.now()
        )
    return CallNoteOut.model_validate(row)


@router.get(
    "/{linkedid}/notes",
    response_model=CallNotesOut,
    summary="Notes of a call",
    description="An agent token reads the notes of the calls it took only.",
    responses=error_responses(404),
)
async def get_call_notes(
    linkedid: Linkedid, who: Desk, live_calls: LiveCallsDep, session: SessionDep
) -> CallNotesOut:
    own = who.own_extension(Scope.TICKETS_WRITE)
    if own is not None and not await took_call(session, live_calls, linkedid, own):
        raise _not_taken(linkedid, own)
    rows = await call_notes(session, linkedids=[linkedid])
    return CallNotesOut(items=[CallNoteOut.model_validate(r) for r in rows])
