"""Agents: the directory in the database, their live state, and the AMI actions behind
login, logout, pause and unpause.

Login adds the agent's interface to each of its skill queues (``QueueAdd`` with
``MemberName`` = extension, ``StateInterface`` = interface and ``Wrapuptime`` =
the agent's wrap-up seconds, so Asterisk itself keeps the agent out of calls
while it wraps up); logout removes it (``QueueRemove``); pause and unpause
send ``QueuePause`` for all the agent's queues at once, with the reason.
Logging in twice, or out twice, is not an error.

Bad input raises :class:`AgentInputError` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.agents.config import AgentSettings
from cti.agents.models import Agent
from cti.agents.schemas import (
    EXTENSION_RE,
    QUEUE_RE,
    AgentIn,
    AgentOut,
    AgentQueueOut,
)
from cti.agents.state import AgentStateTracker, AgentStatus
from cti.ami.actions import ActionSender, queue_add, queue_pause, queue_remove
from cti.ami.codec import AmiMessage
from cti.ami.failures import (
    AsteriskFailed,
    AsteriskTimeout,
    AsteriskUnavailable,
    connected_sender,
    run_action,
)
from cti.errors import Conflict, DomainError, InvalidInput, NotFound

__all__ = [
    "AgentConflict",
    "AgentError",
    "AgentInputError",
    "AgentNotFound",
    "AgentService",
    "AsteriskFailed",
    "AsteriskTimeout",
    "AsteriskUnavailable",
]


class AgentError(DomainError):
    """What the agent service refuses; the generic class beside it gives the status."""


class AgentNotFound(AgentError, NotFound):
    pass


class AgentInputError(AgentError, InvalidInput):
    pass


class AgentConflict(AgentError, Conflict):
    pass


# Asterisk's answers that mean "already done" (app_queue.c, manager_*_queue_member).
_ALREADY_MEMBER = "Already there"
_NOT_MEMBER = "Not there"
_NOT_FOUND = "Interface not found"


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class _Step:
    action: str
    queue: str | None

    def __str__(self) -> str:
        return self.action if self.queue is None else f"{self.action} for queue {self.queue}"


class AgentService:
    """``ami`` returns the current AMI link (or None when AMI is disabled)."""

    def __init__(
        self,
        tracker: AgentStateTracker,
        ami: Callable[[], object | None],
        settings: AgentSettings | None = None,
    ) -> None:
        self.tracker = tracker
        self.settings = settings or AgentSettings()
        self._ami = ami

    # -- directory -------------------------------------------------------------------

    async def list_agents(self, session: AsyncSession) -> list[AgentOut]:
        rows = (await session.execute(select(Agent).order_by(Agent.extension))).scalars()
        return [self.out(row) for row in rows]

    async def get_agent(self, session: AsyncSession, extension: str) -> AgentOut:
        return self.out(await self._agent(session, extension))

    async def put_agent(
        self, session: AsyncSession, extension: str, data: AgentIn, *, now: datetime
    ) -> tuple[AgentOut, bool]:
        """Create or update (flushed, the caller commits); the agent and whether it was created."""
        self._check_extension(extension)
        row = await self._find(session, extension)
        created = row is None
        if row is None:
            row = Agent(
                extension=extension,
                interface=self.settings.interface_of(extension),
                created_at=now,
            )
            session.add(row)
        row.name = data.name
        row.skills = list(data.skills)
        row.wrapup_s = data.wrapup_s
        row.updated_at = now
        await session.flush()
        return self.out(row), created

    # -- Asterisk --------------------------------------------------------------------

    async def login(self, session: AsyncSession, extension: str) -> AgentOut:
        agent = await self._agent(session, extension)
        if not agent.skills:
            raise AgentConflict(
                f"agent {extension} has no skills to log in to; give it queues with "
                f"PUT /api/v1/agents/{extension}"
            )
        bad = [q for q in agent.skills if not QUEUE_RE.match(q)]
        if bad:
            raise AgentInputError(f"agent {extension} has an invalid queue name {bad[0]!r}")
        ami = self._sender()
        wrapup = self.wrapup_of(agent)
        done: list[str] = []
        for queue in agent.skills:
            add = partial(
                queue_add,
                ami,
                queue,
                agent.interface,
                member_name=agent.extension,
                state_interface=agent.interface,
                wrapup_time=wrapup,
            )
            await self._send(_Step("QueueAdd", queue), add, _ALREADY_MEMBER, done)
            done.append(queue)
        return self.out(agent)

    async def logout(self, session: AsyncSession, extension: str) -> AgentOut:
        agent = await self._agent(session, extension)
        ami = self._sender()
        status = self.tracker.status(agent.interface)
        queues = list(dict.fromkeys([*(m.queue for m in status.queues), *agent.skills]))
        done: list[str] = []
        for queue in queues:
            if not QUEUE_RE.match(queue):
                continue
            await self._send(
                _Step("QueueRemove", queue),
                partial(queue_remove, ami, queue, agent.interface),
                _NOT_MEMBER,
                done,
            )
            done.append(queue)
        return self.out(agent)

    async def pause(self, session: AsyncSession, extension: str, reason: str) -> AgentOut:
        if reason not in self.settings.pause_reasons:
            raise AgentInputError(
                f"invalid reason: {reason!r} is not one of "
                f"{', '.join(self.settings.pause_reasons)}",
                details=[{"field": "reason", "allowed": list(self.settings.pause_reasons)}],
            )
        agent = await self._agent(session, extension)
        ami = self._sender()
        await self._send_pause(
            agent, partial(queue_pause, ami, None, agent.interface, True, reason)
        )
        return self.out(agent)

    async def unpause(self, session: AsyncSession, extension: str) -> AgentOut:
        agent = await self._agent(session, extension)
        ami = self._sender()
        await self._send_pause(agent, partial(queue_pause, ami, None, agent.interface, False))
        return self.out(agent)

    # -- views -----------------------------------------------------------------------

    def wrapup_of(self, agent: Agent) -> int:
        return self.settings.wrapup_s if agent.wrapup_s is None else agent.wrapup_s

    def out(self, agent: Agent, status: AgentStatus | None = None) -> AgentOut:
        live = status or self.tracker.status(agent.interface)
        return AgentOut(
            extension=agent.extension,
            name=agent.name,
            interface=agent.interface,
            skills=list(agent.skills or []),
            wrapup_s=agent.wrapup_s,
            effective_wrapup_s=self.wrapup_of(agent),
            state=live.state,
            since=_dt(live.since),
            available=self.tracker.is_available(agent.interface),
            paused_reason=live.paused_reason,
            paused_since=_dt(live.paused_since),
            wrap_up_until=_dt(live.wrap_up_until),
            device=live.device,
            queues=[
                AgentQueueOut(
                    queue=m.queue,
                    paused=m.paused,
                    paused_reason=m.paused_reason,
                    paused_since=_dt(m.paused_since),
                    penalty=m.penalty,
                    calls_taken=m.calls_taken,
                    logged_in_since=_dt(m.logged_in_since),
                )
                for m in live.queues
            ],
            calls_taken=live.calls_taken,
            last_call=_dt(live.last_call),
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _check_extension(extension: str) -> None:
        if not EXTENSION_RE.match(extension):
            raise AgentInputError(f"invalid extension {extension[:40]!r}: give 2 to 20 digits")

    async def _find(self, session: AsyncSession, extension: str) -> Agent | None:
        return (
            await session.execute(select(Agent).where(Agent.extension == extension))
        ).scalar_one_or_none()

    async def _agent(self, session: AsyncSession, extension: str) -> Agent:
        if not EXTENSION_RE.match(extension):
            raise AgentNotFound(f"no agent {extension[:40]!r}")
        row = await self._find(session, extension)
        if row is None:
            raise AgentNotFound(f"no agent {extension!r}")
        return row

    def _sender(self) -> ActionSender:
        return connected_sender(self._ami())

    async def _send(
        self,
        step: _Step,
        send: Callable[[], Awaitable[AmiMessage]],
        already: str | None,
        done: Sequence[str],
    ) -> None:
        """Run one action; an error answer containing ``already`` counts as success."""
        done_note = f" (done before it: {', '.join(done)})" if done else ""
        try:
            await run_action(send, what=str(step), note=done_note)
        except AsteriskFailed as exc:
            if already is not None and already in exc.asterisk:
                return
            raise
        except ValueError as exc:
            raise AgentInputError(str(exc)) from None

    async def _send_pause(self, agent: Agent, send: Callable[[], Awaitable[AmiMessage]]) -> None:
        try:
            await self._send(_Step("QueuePause", None), send, None, [])
        except AsteriskFailed as exc:
            if _NOT_FOUND in exc.message:
                raise AgentConflict(
                    f"agent {agent.extension} is not logged in to any queue "
                    f"(Asterisk: {_NOT_FOUND})"
                ) from None
            raise
