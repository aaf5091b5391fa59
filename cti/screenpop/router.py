"""``WS /ws/agent``, ``WS /ws/supervisor``, the agent's own figures, and the pages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel

from cti.agents.state import AgentStateTracker
from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.calls.service import agent_day, agent_forms
from cti.csat.service import csat_total
from cti.errors import TooManyRequests
from cti.http.deps import (
    AgentStatesDep,
    ClockDep,
    LiveCallsDep,
    QueueBoardDep,
    ScreenPopDep,
    SessionDep,
    SettingsDep,
    authenticate_connection,
    require_scope,
)
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.http.websocket import BadFrame, is_ping, receive_client_message
from cti.queues.schemas import QueueLiveOut
from cti.screenpop.hub import Subscriber

STATIC = Path(__file__).resolve().parent.parent / "static"
AUTH_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)

router = APIRouter(tags=["screen-pop"], route_class=AuthFirstRoute)

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_TOKEN_IN_URL = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
CLOSE_TOO_MANY = 4429
FIRST_MESSAGE = 'send {"token": "..."} as the first message'
#: A ``last_event_id`` beyond this is not one of ours.
MAX_EVENT_ID = 2**63 - 1


async def _authenticate_ws(ws: WebSocket, scope: Scope) -> tuple[Principal, int | None] | None:
    """The token comes in the first message ``{"token": ..., "last_event_id": ...}`` only.

    A token in the URL would end up in access logs and browser histories: such a
    connection is closed (4400) without looking at it.
    """
    await ws.accept()
    if "token" in ws.query_params:
        reason = f"tokens are not accepted in the URL; {FIRST_MESSAGE}"
        await _refuse(ws, CLOSE_TOKEN_IN_URL, reason)
        return None
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            first = await receive_client_message(ws)
    except TimeoutError:
        await _refuse(ws, CLOSE_UNAUTHORIZED, FIRST_MESSAGE)
        return None
    except WebSocketDisconnect:
        return None
    except BadFrame as bad:
        await _bad_frame(ws, bad)
        return None
    if not isinstance(first, dict) or not isinstance(first.get("token"), str):
        await _refuse(ws, CLOSE_UNAUTHORIZED, FIRST_MESSAGE)
        return None
    raw_last = first.get("last_event_id")
    last_event_id = (
        raw_last
        if isinstance(raw_last, int)
        and not isinstance(raw_last, bool)
        and 0 <= raw_last <= MAX_EVENT_ID
        else None
    )
    try:
        principal = await authenticate_connection(ws, first["token"])
    except TooManyRequests as exc:
        await _refuse(ws, CLOSE_TOO_MANY, exc.message)
        return None
    if principal is None:
        await _refuse(ws, CLOSE_UNAUTHORIZED, "invalid or revoked token")
        return None
    if not principal.has(scope) or (scope is Scope.AGENT and not principal.agent_extension):
        await _refuse(ws, CLOSE_FORBIDDEN, f"token {principal.name!r} lacks scope {scope.value!r}")
        return None
    return principal, last_event_id


async def _refuse(ws: WebSocket, code: int, message: str) -> None:
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"type": "error", "message": message}, ensure_ascii=False))
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=message[:120])


async def _bad_frame(ws: WebSocket, bad: BadFrame) -> None:
    """One log line and a close code for whatever a client sent that we do not take."""
    client = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
    log.info("closed WebSocket %s from %s (%d): %s", ws.url.path, client, bad.code, bad.reason)
    with contextlib.suppress(Exception):
        await ws.close(code=bad.code, reason=bad.reason[:120])


@router.websocket("/ws/agent")
async def ws_agent(ws: WebSocket, hub: ScreenPopDep) -> None:
    auth = await _authenticate_ws(ws, Scope.AGENT)
    if auth is None:
        return
    principal, last_event_id = auth
    ext = principal.agent_extension
    assert ext is not None
    sub, backlog, gap = hub.subscribe(ext, last_event_id)
    try:
        hello = {"type": "hello", "extension": ext, "last_id": hub.last_id, "gap": gap}
        await ws.send_text(json.dumps(hello))
        for text in backlog:
            await ws.send_text(text)
        await _pump(ws, sub, write_now=True)
    finally:
        hub.unsubscribe(sub)


async def _pump(ws: WebSocket, sub: Subscriber, *, write_now: bool = False) -> None:
    """Send queued frames until the client leaves; answer its pings.

    ``write_now``: a frame that waits behind nothing is written by whoever pushes it
    (the AMI read, for a screen-pop) instead of on a later turn of the event loop;
    the sender takes the others from the queue, in order.
    """

    async def receive() -> None:
        while True:
            if is_ping(await receive_client_message(ws)):
                await ws.send_text('{"type": "pong"}')

    reader = asyncio.create_task(receive())
    sender = asyncio.create_task(_send_frames(ws, sub))
    if write_now:
        sub.write_now_with(ws.send_text)
    try:
        done, _ = await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, sender):
            task.cancel()
        for task in (reader, sender):
            with contextlib.suppress(BaseException):
                await task
    if reader in done and not reader.cancelled():
        bad = reader.exception()
        if isinstance(bad, BadFrame):
            await _bad_frame(ws, bad)
    elif sender in done and not sender.cancelled() and sender.exception() is not None:
        raise sender.exception()  # type: ignore[misc]


async def _send_frames(ws: WebSocket, sub: Subscriber) -> None:
    while True:
        text = await sub.queue.get()
        if text is None:  # too slow or shutting down: the client resumes by id
            await sub.settled()
            await _refuse(ws, CLOSE_TOO_SLOW, "reconnect with last_event_id")
            return
        sub.sending = True
        try:
            await sub.settled()  # a frame written at once before this one goes first
            await ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            sub.sending = False
        sub.sent(text)


@router.websocket("/ws/supervisor")
async def ws_supervisor(
    ws: WebSocket,
    hub: ScreenPopDep,
    live_calls: LiveCallsDep,
    agent_states: AgentStatesDep,
    board: QueueBoardDep,
) -> None:
    """Live calls, agent states and queues: a snapshot, then every change.

    Frames after the snapshot: ``call``, ``agent_state``, ``queue`` (a queue's waiting
    callers or agents changed; at most one per queue per second) and ``queue_sample``
    (the minute's waiting callers, for the day's chart).
    """
    auth = await _authenticate_ws(ws, Scope.STATS_READ)
    if auth is None:
        return
    sub = hub.subscribe_supervisor()
    try:
        snapshot = {
            "type": "snapshot",
            "calls": [c.model_dump(mode="json") for c in live_calls.all()],
            "agents": agent_state_list(agent_states),
            "queues": [QueueLiveOut.of(q).model_dump(mode="json") for q in board.all_now()],
        }
        await ws.send_text(json.dumps(snapshot, ensure_ascii=False, default=str))
        await _pump(ws, sub)
    finally:
        hub.unsubscribe(sub)


def agent_state_list(states: AgentStateTracker) -> list[dict[str, Any]]:
    return [
        {
            "interface": s.interface,
            "member_name": s.member_name,
            "state": s.state.value,
            "since": s.since,
            "paused_reason": s.paused_reason,
        }
        for s in states.statuses()
    ]


# --- the agent's own figures ----------------------------------------------------------


class DeskCsat(BaseModel):
    """The agent's satisfaction ratings today: how many, their mean, how many of each."""

    count: int
    average: float | None
    distribution: dict[str, int]
    """Rating ("1".."5") -> calls."""


class DeskStats(BaseModel):
    extension: str
    day: str
    answered: int
    talk_s: float
    avg_talk_s: float | None
    csat: DeskCsat


AgentPrincipal = Annotated[Principal, Depends(require_scope(Scope.AGENT))]


@router.get(
    "/api/v1/desk/stats",
    response_model=DeskStats,
    summary="The calling agent's own answered calls, talk time and satisfaction ratings today "
    "(agent token)",
    responses=error_responses(401, 403),
)
async def desk_stats(
    who: AgentPrincipal, settings: SettingsDep, clock: ClockDep, session: SessionDep
) -> DeskStats:
    ext = who.agent_extension or ""
    tz = ZoneInfo(settings.timezone)
    day = clock.now().astimezone(tz).date()
    figures = await agent_day(session, extension=ext, day=day, tz=tz)
    count, talk = figures.answered, figures.talk_s
    start = datetime.combine(day, time(0), tz)
    rated = await csat_total(
        session, since=start, until=start + timedelta(days=1), agents=agent_forms(ext)
    )
    return DeskStats(
        extension=ext,
        day=figures.day.isoformat(),
        answered=count,
        talk_s=round(talk, 1),
        avg_talk_s=round(talk / count, 1) if count else None,
        csat=DeskCsat(
            count=rated.count,
            average=rated.average,
            distribution={str(r): n for r, n in rated.distribution.items()},
        ),
    )


# --- pages ------------------------------------------------------------------------------


@router.get("/agent", include_in_schema=False)
async def agent_page() -> FileResponse:
    return FileResponse(STATIC / "agent.html", media_type="text/html; charset=utf-8")
