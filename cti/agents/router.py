"""``/api/v1/agents``: the directory, live states, and login/logout/pause/unpause.

Supervisors and admin tools use ``agents:write``; the agent desktop's token
(scope ``agent``, bound to one extension) may act on that extension only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from cti.agents.schemas import AgentIn, AgentOut, AgentPage, PauseIn
from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.errors import Forbidden
from cti.http.deps import (
    AgentServiceDep,
    BearerCredentials,
    ClockDep,
    SessionDep,
    bearer_token,
    principal_from_token,
    require_scope,
)
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute

router = APIRouter(
    prefix="/api/v1/agents",
    tags=["agents"],
    responses=error_responses(401, 403),
    route_class=AuthFirstRoute,
)
_ONE = error_responses(404, 422)
_AMI = error_responses(404, 409, 422, 502, 503, 504)


def _self_or(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """``scope``, or an ``agent`` token bound to the ``{extension}`` of the path."""

    async def dependency(request: Request, extension: str, _: BearerCredentials) -> Principal:
        principal = await principal_from_token(request, bearer_token(request))
        if principal.has(scope):
            return principal
        if principal.has(Scope.AGENT):
            if principal.agent_extension == extension:
                return principal
            raise Forbidden(
                f"token {principal.name!r} may act for agent "
                f"{principal.agent_extension} only, not {extension[:20]}"
            )
        raise Forbidden(f"token {principal.name!r} lacks scope {scope.value!r}")

    dependency.__name__ = f"require_{scope.name.lower()}_or_self"
    return dependency


Reader = Annotated[Principal, Depends(require_scope(Scope.STATS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.AGENTS_WRITE))]
SelfReader = Annotated[Principal, Depends(_self_or(Scope.STATS_READ))]
SelfWriter = Annotated[Principal, Depends(_self_or(Scope.AGENTS_WRITE))]


@router.get("", response_model=AgentPage, summary="Every agent with its live state")
async def agents_index(_: Reader, agents: AgentServiceDep, session: SessionDep) -> AgentPage:
    return AgentPage(
        items=await agents.list_agents(session),
        pause_reasons=list(agents.settings.pause_reasons),
    )


@router.get(
    "/{extension}", response_model=AgentOut, summary="One agent with its live state", responses=_ONE
)
async def agent_detail(
    extension: str, _: SelfReader, agents: AgentServiceDep, session: SessionDep
) -> AgentOut:
    return await agents.get_agent(session, extension)


@router.put(
    "/{extension}",
    response_model=AgentOut,
    summary="Create or update an agent",
    responses={
        201: {"model": AgentOut, "description": "created"},
        **error_responses(400, 409, 422),
    },
)
async def agent_put(
    extension: str,
    body: AgentIn,
    _: Writer,
    agents: AgentServiceDep,
    clock: ClockDep,
    session: SessionDep,
    response: Response,
) -> AgentOut:
    async with session.begin():
        out, created = await agents.put_agent(session, extension, body, now=clock.now())
    if created:
        response.status_code = 201
    return out


@router.post(
    "/{extension}/login", response_model=AgentOut, summary="Join the skill queues", responses=_AMI
)
async def agent_login(
    extension: str, _: SelfWriter, agents: AgentServiceDep, session: SessionDep
) -> AgentOut:
    return await agents.login(session, extension)


@router.post(
    "/{extension}/logout", response_model=AgentOut, summary="Leave every queue", responses=_AMI
)
async def agent_logout(
    extension: str, _: SelfWriter, agents: AgentServiceDep, session: SessionDep
) -> AgentOut:
    return await agents.logout(session, extension)


@router.post(
    "/{extension}/pause",
    response_model=AgentOut,
    summary="Pause with a reason",
    responses={**_AMI, **error_responses(400)},
)
async def agent_pause(
    extension: str, body: PauseIn, _: SelfWriter, agents: AgentServiceDep, session: SessionDep
) -> AgentOut:
    return await agents.pause(session, extension, body.reason)


@router.post(
    "/{extension}/unpause", response_model=AgentOut, summary="Take calls again", responses=_AMI
)
async def agent_unpause(
    extension: str, _: SelfWriter, agents: AgentServiceDep, session: SessionDep
) -> AgentOut:
    return await agents.unpause(session, extension)
