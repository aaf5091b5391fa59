"""``POST /api/v1/calls``: an agent calls a customer back from the desktop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.clicktocall.schemas import AgentCallIn, AgentCallOut
from cti.errors import Forbidden
from cti.http.deps import ClickToCallDep, SessionDep, require_any
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute

router = APIRouter(
    prefix="/api/v1/calls",
    tags=["calls"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

AgentOnly = Annotated[Principal, Depends(require_any(Scope.AGENT))]


@router.post(
    "",
    response_model=AgentCallOut,
    status_code=202,
    summary="Call a customer back from the agent's own phone (click-to-call)",
    description="Agent tokens only. Asterisk rings the agent's phone first; when the agent "
    "answers, it dials the customer presenting the shop's number (the ticket's shop, or "
    "`shop`). The call is recorded and tracked like any other (`GET /api/v1/calls/{call_id}`); "
    "made from a ticket, its result lands on the ticket's history: a customer reached closes "
    "the task, one not reached puts it back on the callback list, due later. 409 when the "
    "number is on the do-not-call list or the agent's phone is busy; 503 when Asterisk is "
    "not connected.",
    responses=error_responses(400, 404, 409, 503),
)
async def call_create(
    body: Annotated[AgentCallIn, Body()],
    who: AgentOnly,
    calls: ClickToCallDep,
    session: SessionDep,
) -> AgentCallOut:
    agent = who.agent_extension
    if not agent:
        raise Forbidden("only an agent's token can call from the agent's phone")
    async with session.begin():
        plan = await calls.plan(session, agent, body)
    row = await calls.start(plan, who.name)
    return AgentCallOut.model_validate(row)
