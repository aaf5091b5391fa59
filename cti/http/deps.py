"""FastAPI dependencies: the services a router may use, and bearer-token scopes.

The composition root hands :func:`cti.api.create_http_app` one
:class:`HttpServices`; routers ask for the single service they need through the
``...Dep`` aliases below and never see the container.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from cti.acd.service import HotlineRouter
from cti.agents.service import AgentService
from cti.agents.state import AgentStateTracker
from cti.auth.limiter import FailedLogins
from cti.auth.scopes import Scope
from cti.auth.tokens import Principal, authenticate
from cti.calls.live import LiveCalls
from cti.clicktocall.service import ClickToCall
from cti.clock import Clock
from cti.confirmations.config import ConfirmationSettings
from cti.customers.phones import PhoneNormalizer
from cti.errors import Forbidden, TooManyRequests, Unauthorized
from cti.metrics import Metrics
from cti.queues.board import QueueBoard
from cti.readiness import Readiness
from cti.recordings.context import RecordingContext
from cti.recordings.pause import RecordingPauses
from cti.screenpop.hub import ScreenPopHub
from cti.settings import Settings
from cti.stats.config import StatsSettings
from cti.webhooks.config import WebhookSettings

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class HttpServices:
    settings: Settings
    clock: Clock
    metrics: Metrics
    sessions: async_sessionmaker[AsyncSession]
    phones: PhoneNormalizer
    readiness: Readiness
    live_calls: LiveCalls
    agents: AgentService
    agent_states: AgentStateTracker
    hotline: HotlineRouter
    screenpop: ScreenPopHub
    failed_logins: FailedLogins
    recordings: RecordingContext
    recording_pauses: RecordingPauses
    confirmations: ConfirmationSettings
    click_to_call: ClickToCall
    webhooks: WebhookSettings
    stats: StatsSettings
    queue_board: QueueBoard


def services_of(conn: HTTPConnection) -> HttpServices:
    services: HttpServices = conn.app.state.services
    return services


def _recordings(conn: HTTPConnection) -> RecordingContext:
    return services_of(conn).recordings


def _recording_pauses(conn: HTTPConnection) -> RecordingPauses:
    return services_of(conn).recording_pauses


def _click_to_call(conn: HTTPConnection) -> ClickToCall:
    return services_of(conn).click_to_call


def _confirmations(conn: HTTPConnection) -> ConfirmationSettings:
    return services_of(conn).confirmations


def _webhooks(conn: HTTPConnection) -> WebhookSettings:
    return services_of(conn).webhooks


def _stats(conn: HTTPConnection) -> StatsSettings:
    return services_of(conn).stats


def _settings(conn: HTTPConnection) -> Settings:
    return services_of(conn).settings


def _clock(conn: HTTPConnection) -> Clock:
    return services_of(conn).clock


def _metrics(conn: HTTPConnection) -> Metrics:
    return services_of(conn).metrics


def _sessions(conn: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    return services_of(conn).sessions


def _phones(conn: HTTPConnection) -> PhoneNormalizer:
    return services_of(conn).phones


def _readiness(conn: HTTPConnection) -> Readiness:
    return services_of(conn).readiness


def _live_calls(conn: HTTPConnection) -> LiveCalls:
    return services_of(conn).live_calls


def _agents(conn: HTTPConnection) -> AgentService:
    return services_of(conn).agents


def _agent_states(conn: HTTPConnection) -> AgentStateTracker:
    return services_of(conn).agent_states


def _hotline(conn: HTTPConnection) -> HotlineRouter:
    return services_of(conn).hotline


def _screenpop(conn: HTTPConnection) -> ScreenPopHub:
    return services_of(conn).screenpop


def _queue_board(conn: HTTPConnection) -> QueueBoard:
    return services_of(conn).queue_board


SettingsDep = Annotated[Settings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
SessionMakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
PhonesDep = Annotated[PhoneNormalizer, Depends(_phones)]
ReadinessDep = Annotated[Readiness, Depends(_readiness)]
LiveCallsDep = Annotated[LiveCalls, Depends(_live_calls)]
AgentServiceDep = Annotated[AgentService, Depends(_agents)]
AgentStatesDep = Annotated[AgentStateTracker, Depends(_agent_states)]
HotlineDep = Annotated[HotlineRouter, Depends(_hotline)]
ScreenPopDep = Annotated[ScreenPopHub, Depends(_screenpop)]
QueueBoardDep = Annotated[QueueBoard, Depends(_queue_board)]
RecordingsDep = Annotated[RecordingContext, Depends(_recordings)]
RecordingPausesDep = Annotated[RecordingPauses, Depends(_recording_pauses)]
ConfirmationSettingsDep = Annotated[ConfirmationSettings, Depends(_confirmations)]
ClickToCallDep = Annotated[ClickToCall, Depends(_click_to_call)]
WebhookSettingsDep = Annotated[WebhookSettings, Depends(_webhooks)]
StatsSettingsDep = Annotated[StatsSettings, Depends(_stats)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with services_of(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="An API token from `cti token create`, e.g. `Authorization: Bearer cti_...`",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "missing bearer token (Authorization: Bearer <token>)", headers=_CHALLENGE
        )
    return token.strip()


async def principal_of(
    sessions: async_sessionmaker[AsyncSession], token: str, *, now: datetime | None = None
) -> Principal | None:
    async with sessions() as session, session.begin():
        return await authenticate(session, token, now=now)


def client_address(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


async def authenticate_connection(conn: HTTPConnection, token: str) -> Principal | None:
    """The token's principal, or None; an address that sent too many wrong tokens waits.

    Raises :class:`TooManyRequests` (with ``Retry-After``) before the token is looked at.
    """
    services = services_of(conn)
    client = client_address(conn)
    wait = services.failed_logins.retry_after(client)
    if wait > 0:
        seconds = str(math.ceil(wait))
        raise TooManyRequests(
            f"too many wrong tokens from this address; try again in {seconds} s",
            headers={"Retry-After": seconds},
        )
    principal = await principal_of(services.sessions, token, now=services.clock.now())
    if principal is None:
        services.failed_logins.failed(client)
    return principal


async def principal_from_token(request: Request, token: str) -> Principal:
    # A route checks the token before it reads the body (cti.http.routing) and again
    # when FastAPI solves its dependencies: the second time costs nothing.
    cached: tuple[str, Principal] | None = getattr(request.state, "cti_principal", None)
    if cached is not None and cached[0] == token:
        return cached[1]
    principal = await authenticate_connection(request, token)
    if principal is None:
        raise Unauthorized("invalid or revoked token", headers=_CHALLENGE)
    request.state.cti_principal = (token, principal)
    return principal


def require_any(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: a valid token carrying at least one of ``scopes``."""

    async def dependency(request: Request, _: BearerCredentials) -> Principal:
        # HTTPBearer only declares the scheme in the OpenAPI; the header is read here so
        # a missing or malformed one gets our JSON 401, not FastAPI's.
        principal = await principal_from_token(request, bearer_token(request))
        if not any(principal.has(s) for s in scopes):
            wanted = " or ".join(repr(s.value) for s in scopes)
            raise Forbidden(f"token {principal.name!r} lacks scope {wanted}")
        return principal

    dependency.__name__ = "require_" + "_or_".join(s.name.lower() for s in scopes)
    return dependency


def require_scope(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    return require_any(scope)
