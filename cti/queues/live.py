"""Pure: a queue's live figures from the two trackers' answers at one moment.

Waiting callers come from the call tracker (:meth:`CallTracker.waiting_callers`),
agents from the agent state tracker (:meth:`AgentStateTracker.statuses`), and every
time is on Asterisk's clock (``now`` is :meth:`AgentStateTracker.asterisk_now`), so
"longest wait" does not depend on the CTI host's clock.

An agent's state *in a queue* is its overall state, except that a member paused in
this queue (app_queue does not ring it from here) counts as paused here with that
queue's reason even if it still takes calls from another queue. A ringing or
talking agent is ringing / on a call whatever queue the call came from: it cannot
take this queue's calls either. "Logged out" of a queue: an agent that was a member
of it since the service started (``homes``) and is not now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cti.agents.state import AgentState, AgentStatus
from cti.tracking.model import WaitingCaller
from cti.tracking.values import extension_of

__all__ = ["AgentCounts", "QueueAgent", "QueueNow", "agent_in_queue", "queue_now"]


@dataclass(frozen=True, slots=True)
class QueueAgent:
    interface: str
    extension: str | None
    member_name: str | None
    state: AgentState
    since: float | None
    paused_reason: str | None


@dataclass(frozen=True, slots=True)
class AgentCounts:
    available: int = 0
    ringing: int = 0
    on_call: int = 0
    wrap_up: int = 0
    paused: int = 0
    logged_out: int = 0
    paused_by_reason: tuple[tuple[str, int], ...] = ()
    """``(reason, count)`` sorted by reason; a pause without a reason is ``""``."""


@dataclass(frozen=True, slots=True)
class QueueNow:
    queue: str
    waiting: int
    longest_wait_s: float | None
    oldest_joined_at: float | None
    agents: AgentCounts
    members: tuple[QueueAgent, ...]
    at: float
    """Asterisk's "now" the figures were taken at."""

    def pushed(self) -> tuple[object, ...]:
        """What a wallboard redraws on (the wait grows by itself: the page ticks it)."""
        return (
            self.waiting,
            self.oldest_joined_at,
            self.agents,
            tuple((a.interface, a.state, a.paused_reason) for a in self.members),
        )


def agent_in_queue(status: AgentStatus, queue: str) -> QueueAgent:
    """``status``'s state as seen from ``queue`` (module docstring)."""
    membership = next((m for m in status.queues if m.queue == queue), None)
    state, since, reason = status.state, status.since, status.paused_reason
    if membership is None:
        state, reason = AgentState.LOGGED_OUT, None
    elif state in (AgentState.ON_CALL, AgentState.RINGING):
        reason = None
    elif membership.paused:
        state, reason = AgentState.PAUSED, membership.paused_reason
        if status.state is not AgentState.PAUSED:
            since = membership.paused_since
    else:
        reason = None
    return QueueAgent(
        interface=status.interface,
        extension=extension_of(status.interface, status.member_name),
        member_name=status.member_name,
        state=state,
        since=since,
        paused_reason=reason,
    )


def _counts(agents: Iterable[QueueAgent]) -> AgentCounts:
    states = Counter(a.state for a in agents)
    reasons = Counter(a.paused_reason or "" for a in agents if a.state is AgentState.PAUSED)
    return AgentCounts(
        available=states[AgentState.AVAILABLE],
        ringing=states[AgentState.RINGING],
        on_call=states[AgentState.ON_CALL],
        wrap_up=states[AgentState.WRAP_UP],
        paused=states[AgentState.PAUSED],
        logged_out=states[AgentState.LOGGED_OUT],
        paused_by_reason=tuple(sorted(reasons.items())),
    )


def queue_now(
    queue: str,
    waiting: Sequence[WaitingCaller],
    statuses: Sequence[AgentStatus],
    homes: Mapping[str, frozenset[str]],
    now: float,
) -> QueueNow:
    """The figures of ``queue`` at ``now`` (Asterisk's clock).

    ``waiting`` and ``statuses`` may cover every queue; ``homes`` maps an interface
    to the queues it has been a member of (for "logged out").
    """
    here = [w for w in waiting if w.queue == queue]
    oldest = min((w.joined_at for w in here), default=None)
    members = tuple(
        agent_in_queue(s, queue)
        for s in statuses
        if any(m.queue == queue for m in s.queues) or queue in homes.get(s.interface, ())
    )
    return QueueNow(
        queue=queue,
        waiting=len(here),
        longest_wait_s=None if oldest is None else round(max(0.0, now - oldest), 1),
        oldest_joined_at=oldest,
        agents=_counts(members),
        members=members,
        at=now,
    )
