"""``/api/v1/agents``: the directory, live states, and login/logout/pause/unpause.

Supervisors and admin tools use ``agents:write``; the agent desktop's token
(scope ``agent``, bound to one extension) may act on that extension only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response

from cti.agents.schemas import AgentIn, AgentOut, AgentPage, PauseIn
from cti.agents.service import AgentError, AgentService
from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.http.deps import (
    ContainerDep,
    SessionDep,
    bearer_token,
    principal_from_token,
    require_scope,
)
from cti.http.errors import ApiError

if TYPE_CHECKING:
    from cti.app import Container

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


def _self_or(scope: Scope) -> Callable[[Request, str], Awaitable[Principal]]:
    """``scope``, or an ``agent`` token bound to the ``{extension}`` of the path."""

    async def dependency(request: Request, extension: str) -> Principal:
        principal = await principal_from_token(request, bearer_token(request))
        if principal.has(scope):
            return principal
        if principal.has(Scope.AGENT):
            if principal.agent_extension == extension:
                return principal
            raise ApiError(
                403,
                f"token {principal.name!r} may act for agent "
                f"{principal.agent_extension} only, not {extension[:20]}",
            )
        raise ApiError(403, f"token {principal.name!r} lacks scope {scope.value!r}")

    dependency.__name__ = f"require_{scope.name.lower()}_or_self"
    return dependency


Reader = Annotated[Principal, Depends(require_scope(Scope.STATS_READ))]
Writer = Annotated[Principal, Depends(require_scope(Scope.AGENTS_WRITE))]
SelfReader = Annotated[Principal, Depends(_self_or(Scope.STATS_READ))]
SelfWriter = Annotated[Principal, Depends(_self_or(Scope.AGENTS_WRITE))]


def _service(container: Container) -> AgentService:
    service: AgentService = container.agents
    return service


def _api_error(exc: AgentError) -> ApiError:
    return ApiError(exc.status, exc.message, exc.details)


@router.get("", response_model=AgentPage, summary="Every agent with its live state")
async def agents_index(_: Reader, container: ContainerDep, session: SessionDep) -> AgentPage:
    service = _service(container)
    return AgentPage(
        items=await service.list_agents(session),
        pause_reasons=list(service.settings.pause_reasons),
    )


@router.get("/{extension}", response_model=AgentOut, summary="One agent with its live state")
async def agent_detail(
    extension: str, _: SelfReader, container: ContainerDep, session: SessionDep
) -> AgentOut:
    try:
        return await _service(container).get_agent(session, extension)
    except AgentError as exc:
        raise _api_error(exc) from None


@router.put(
    "/{extension}",
    response_model=AgentOut,
    summary="Create or update an agent",
    responses={201: {"model": AgentOut, "description": "created"}},
)
async def agent_put(
    extension: str,
    body: AgentIn,
    _: Writer,
    container: ContainerDep,
    session: SessionDep,
    response: Response,
) -> AgentOut:
    try:
        out, created = await _service(container).put_agent(session, extension, body)
    except AgentError as exc:
        raise _api_error(exc) from None
    if created:
        response.status_code = 201
    return out


@router.post("/{extension}/login", response_model=AgentOut, summary="Join the skill queues")
async def agent_login(
    extension: str, _: SelfWriter, container: ContainerDep, session: SessionDep
) -> AgentOut:
    try:
        return await _service(container).login(session, extension)
    except AgentError as exc:
        raise _api_error(exc) from None


@router.post("/{extension}/logout", response_model=AgentOut, summary="Leave every queue")
async def agent_logout(
    extension: str, _: SelfWriter, container: ContainerDep, session: SessionDep
) -> AgentOut:
    try:
        return await _service(container).logout(session, extension)
    except AgentError as exc:
        raise _api_error(exc) from None


@router.post("/{extension}/pause", response_model=AgentOut, summary="Pause with a reason")
async def agent_pause(
    extension: str, body: PauseIn, _: SelfWriter, container: ContainerDep, session: SessionDep
) -> AgentOut:
    try:
        return await _service(container).pause(session, extension, body.reason)
    except AgentError as exc:
        raise _api_error(exc) from None


@router.post("/{extension}/unpause", response_model=AgentOut, summary="Take calls again")
async def agent_unpause(
    extension: str, _: SelfWriter, container: ContainerDep, session: SessionDep
) -> AgentOut:
    try:
        return await _service(container).unpause(session, extension)
    except AgentError as exc:
        raise _api_error(exc) from None
