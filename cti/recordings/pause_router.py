"""``POST /api/v1/calls/{id}/recording:pause`` and ``:resume``: mute a live call's recording."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.errors import NotFound
from cti.http.deps import RecordingPausesDep, require_any
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.recordings.pause import PauseState, RecordingPauses, agent_on_call

router = APIRouter(
    prefix="/api/v1/calls",
    tags=["recordings"],
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
    route_class=AuthFirstRoute,
)

Controller = Annotated[Principal, Depends(require_any(Scope.RECORDINGS_WRITE, Scope.AGENT))]
Linkedid = Annotated[str, Path(pattern=r"^[0-9A-Za-z._-]{1,64}$")]


class RecordingPauseOut(BaseModel):
    call_id: str
    paused: bool
    """The recording's state now: True = silence is being written."""
    changed: bool
    """False when it already was in that state (nothing was sent to Asterisk)."""
    at: datetime
    channels: list[str]


def _out(state: PauseState) -> RecordingPauseOut:
    return RecordingPauseOut(
        call_id=state.linkedid,
        paused=state.paused,
        changed=state.changed,
        at=state.at,
        channels=list(state.channels),
    )


def _check_agent(pauses: RecordingPauses, linkedid: str, who: Principal) -> None:
    # An agent controls only the call it is on now; a supervisor/QA token
    # (recordings:write) any call.
    if who.has(Scope.RECORDINGS_WRITE) or who.agent_extension is None:
        return
    call = pauses.live(linkedid)
    if not agent_on_call(call, who.agent_extension):
        raise NotFound(f"no call {linkedid!r} in progress")


@router.post(
    "/{call_id}/recording:pause",
    response_model=RecordingPauseOut,
    summary="Pause a live call's recording (silence is written, the timeline is kept)",
    description="For card numbers (PCI DSS). An agent may pause only the call it is on.",
)
async def pause_recording(
    call_id: Linkedid, who: Controller, pauses: RecordingPausesDep
) -> RecordingPauseOut:
    _check_agent(pauses, call_id, who)
    return _out(await pauses.set_paused(call_id, True, who.agent_extension or who.name))


@router.post(
    "/{call_id}/recording:resume",
    response_model=RecordingPauseOut,
    summary="Resume a paused recording",
)
async def resume_recording(
    call_id: Linkedid, who: Controller, pauses: RecordingPausesDep
) -> RecordingPauseOut:
    _check_agent(pauses, call_id, who)
    return _out(await pauses.set_paused(call_id, False, who.agent_extension or who.name))
