"""Sans-I/O agent state tracker: AMI queue-member events in, agent states out.

An agent is a queue member, keyed by its ``Interface`` (``PJSIP/1001``); it is
logged in while it is a member of at least one queue. Its state is one of
:class:`AgentState`, decided in this order:

1. ``logged_out`` -- a member of no queue;
2. ``on_call`` / ``ringing`` -- see "call phase" below;
3. ``paused`` -- paused in every queue it belongs to (a member paused in only
   some of its queues still takes calls from the others), with the reason and
   time of the latest pause;
4. ``wrap_up`` -- less than the wrap-up time since its last queue call ended;
5. ``available``.

Call phase. Asterisk reports two things: app_queue's own events
(``AgentCalled``, ``AgentConnect``, ``AgentComplete``, ``AgentRingNoAnswer``,
``AgentDump``) and the device state of the member's ``StateInterface`` in the
``Status`` header of ``QueueMember*`` events. The queue events win while a
queue call is in progress: recorded Asterisk 22 traffic shows the device as
BUSY (``Status: 3``) right after ``AgentCalled``, before the agent answers.
Outside a queue call the device state decides (a direct call from the
preferred-agent dial or an agent's own outbound call is ``on_call`` too). A
ring cancelled because the caller hung up has no AMI event (only queue_log's
RINGCANCELED): the device going back to idle ends it.

Wrap-up is enforced by Asterisk, not by pausing: :mod:`cti.agents.service`
logs agents in with ``QueueAdd ... Wrapuptime: N``, and app_queue then does not
ring the member until ``LastCall + N`` (``can_ring_entry``). The tracker mirrors
that rule with the same numbers -- the member's ``Wrapuptime`` and ``LastCall``
headers (``AgentComplete``'s Timestamp before the next ``QueueMemberStatus``
brings ``LastCall``) -- and computes the state lazily against a ``now``. So a
member added by hand with no wrap-up (``Wrapuptime: 0``) is available at once,
in Asterisk and here alike. ``default_wrapup_s`` applies only when events carry
no ``Wrapuptime`` header (Asterisk before 17). A queue-level ``wrapuptime`` in
queues.conf is invisible over AMI; keep it 0 (as shipped) and configure wrap-up
in the CTI.

Times come from the events' ``Timestamp`` header (manager.conf
``timestampevents = yes``), or from ``LastPause``/``LastCall``/``LoginTime``
after a resync: all on Asterisk's clock. A question without a time ("is the
agent free now?", "which wrap-ups have ended?") is answered on that clock too,
not the CTI host's, since the hosts' clocks may differ: "Asterisk now" is the
newest ``Timestamp`` fed plus the monotonic time elapsed since it arrived
(:meth:`AgentStateTracker.asterisk_now`). Before any event it is the injected
clock's wall time, raised to any ``LastCall``/``LastPause``/``LoginTime`` a
resync reports (Asterisk cannot have reported a time still to come).

Errors: odd input (unknown events, missing headers, garbage values) is data
and never raises; an exception out of :meth:`AgentStateTracker.feed`,
:meth:`~AgentStateTracker.resync` or :meth:`~AgentStateTracker.expire` is a
bug of ours and is not caught here: the adapter (the composition root's AMI
event handler) isolates, logs and counts it, and feeds the next event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cti.clock import SYSTEM_CLOCK, Clock
from cti.tracking.asterisk_clock import AsteriskClock
from cti.tracking.values import epoch, int_or, paused_flag, printable, timestamp

__all__ = [
    "AgentState",
    "AgentStateChanged",
    "AgentStateTracker",
    "AgentStatus",
    "DeviceState",
    "QueueMembership",
]

MAX_REASON = 80
"""A pause reason is a label; Asterisk accepts any text (another AMI client may set one)."""


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class DeviceState(StrEnum):
    """Asterisk's ``ast_device_state`` values, as sent in ``Status: 0..8``."""

    UNKNOWN = "unknown"
    NOT_INUSE = "not_inuse"
    INUSE = "inuse"
    BUSY = "busy"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    RINGING = "ringing"
    RINGINUSE = "ringinuse"
    ONHOLD = "onhold"


_DEVICE_CODES: dict[str, DeviceState] = {
    str(i): s
    for i, s in enumerate(
        (
            DeviceState.UNKNOWN,
            DeviceState.NOT_INUSE,
            DeviceState.INUSE,
            DeviceState.BUSY,
            DeviceState.INVALID,
            DeviceState.UNAVAILABLE,
            DeviceState.RINGING,
            DeviceState.RINGINUSE,
            DeviceState.ONHOLD,
        )
    )
}
# app_queue's member_status_available(): these may be rung.
_DEVICE_FREE = frozenset((DeviceState.UNKNOWN, DeviceState.NOT_INUSE))
_DEVICE_TALKING = frozenset(
    (DeviceState.INUSE, DeviceState.BUSY, DeviceState.RINGINUSE, DeviceState.ONHOLD)
)
_DEVICE_GONE = frozenset((DeviceState.INVALID, DeviceState.UNAVAILABLE))
# A phone busy with something else: no second call on top of it.
_DEVICE_BUSY = _DEVICE_TALKING | {DeviceState.RINGING}

_MEMBER_EVENTS = frozenset(
    ("QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause", "QueueMemberPenalty")
)
_AGENT_EVENTS = frozenset(
    ("AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer", "AgentDump")
)
_HANDLED = _MEMBER_EVENTS | _AGENT_EVENTS | {"QueueMemberRemoved"}


class _Phase(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    ON_CALL = "on_call"


@dataclass(frozen=True, slots=True)
class QueueMembership:
    """One queue an agent is logged in to."""

    queue: str
    paused: bool
    paused_reason: str | None
    paused_since: float | None
    penalty: int
    calls_taken: int
    logged_in_since: float | None


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent's state at one moment."""

    interface: str
    member_name: str | None
    state: AgentState
    since: float | None
    """When the agent entered ``state`` (None: before anything we saw)."""
    paused_reason: str | None
    paused_since: float | None
    wrap_up_until: float | None
    device: DeviceState | None
    queues: tuple[QueueMembership, ...]
    calls_taken: int
    last_call: float | None

    @property
    def logged_in(self) -> bool:
        return self.state is not AgentState.LOGGED_OUT


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """An agent moved from ``previous`` to ``state`` at ``since``.

    ``previous == state == paused``: paused again with another reason.
    """

    interface: str
    member_name: str | None
    state: AgentState
    previous: AgentState
    since: float
    paused_reason: str | None = None
    queue: str | None = None


@dataclass(slots=True)
class _Member:
    queue: str
    paused: bool = False
    paused_reason: str | None = None
    paused_since: float | None = None
    penalty: int = 0
    calls_taken: int = 0
    logged_in_since: float | None = None


@dataclass(slots=True)
class _Agent:
    interface: str
    member_name: str | None = None
    members: dict[str, _Member] = field(default_factory=dict)
    phase: _Phase = _Phase.IDLE
    queue_call: bool = False
    """The phase was set by app_queue's Agent* events (not by the device state)."""
    device: DeviceState | None = None
    last_call: float | None = None
    wrapup_s: float | None = None
    """The member's ``Wrapuptime`` as Asterisk reports it (None: not reported)."""
    state: AgentState = AgentState.LOGGED_OUT
    since: float | None = None
    reason: str | None = None
    """The pause reason last reported in an :class:`AgentStateChanged`."""


class AgentStateTracker:
    """Feed AMI events (any ``Mapping[str, str]``); get :class:`AgentStateChanged` back.

    Odd input is ignored, never raised on; a bug of ours raises (module docstring).
    ``clock`` is the host's clock, used only to tell "Asterisk now" between
    events (:meth:`asterisk_now`): by :meth:`is_available`, :meth:`expire` and
    the ``now=None`` forms of the queries.
    """

    def __init__(self, default_wrapup_s: float = 0.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.default_wrapup_s = max(0.0, float(default_wrapup_s))
        self._asterisk = AsteriskClock(clock)
        self._agents: dict[str, _Agent] = {}
        self._last_ts = 0.0

    # -- queries -------------------------------------------------------------------

    @property
    def last_timestamp(self) -> float:
        """The newest ``Timestamp`` fed (0 before any)."""
        return self._last_ts

    def asterisk_now(self) -> float:
        """Now on Asterisk's clock, the one every time here is on (module docstring)."""
        return self._asterisk.now()

    def is_available(self, interface: str) -> bool:
        """Logged in, not paused, not ringing or on a call, not in wrap-up, phone reachable.

        This is the ``AgentAvailability`` protocol of the routing policy.
        """
        agent = self._agents.get(interface)
        if agent is None:
            return False
        state, _ = self._state_at(agent, self.asterisk_now())
        return state is AgentState.AVAILABLE and (
            agent.device is None or agent.device in _DEVICE_FREE
        )

    def phone_busy(self, interface: str) -> bool:
        """Ringing or on a call now, by app_queue's events or the phone's device state."""
        agent = self._agents.get(interface)
        if agent is None:
            return False
        state, _ = self._state_at(agent, self.asterisk_now())
        return state in (AgentState.RINGING, AgentState.ON_CALL) or agent.device in _DEVICE_BUSY

    def phone_reachable(self, interface: str) -> bool:
        """False while Asterisk reports the phone unavailable or invalid (not registered)."""
        agent = self._agents.get(interface)
        return agent is None or agent.device not in _DEVICE_GONE

    def status(self, interface: str, now: float | None = None) -> AgentStatus:
        """The state of one interface at ``now`` (Asterisk's clock; default: Asterisk now).

        ``logged_out`` for an interface never seen.
        """
        agent = self._agents.get(interface) or _Agent(interface)
        return self._status(agent, self.asterisk_now() if now is None else now)

    def wrapup_of(self, interface: str) -> float | None:
        """The wrap-up app_queue holds this agent for after a queue call (None: never seen).

        Call records store it with each answered queue call (AHT's wrap-up part).
        """
        agent = self._agents.get(interface)
        return None if agent is None else self._wrapup_s(agent)

    def statuses(self, now: float | None = None) -> list[AgentStatus]:
        """Every interface seen so far, logged in or not, sorted by interface."""
        at = self.asterisk_now() if now is None else now
        return [self._status(self._agents[k], at) for k in sorted(self._agents)]

    # -- input ---------------------------------------------------------------------

    def feed(self, msg: Mapping[str, str]) -> list[AgentStateChanged]:
        ts = timestamp(msg.get("Timestamp"))
        if ts is not None:
            # Every event tells Asterisk's time, not only the ones handled here.
            self._last_ts = ts
            self._asterisk.saw(ts)
        name = msg.get("Event") or ""
        if name not in _HANDLED:
            return []
        return self._feed(name, msg, self._last_ts)

    def expire(self, now: float | None = None) -> list[AgentStateChanged]:
        """Report wrap-ups that have ended by ``now`` (there is no AMI event for that).

        ``now`` is on Asterisk's clock; by default Asterisk now, so a timer on
        the host may call this every second whatever the hosts' clocks say.
        """
        at = self.asterisk_now() if now is None else now
        out: list[AgentStateChanged] = []
        for agent in self._agents.values():
            if agent.state is AgentState.WRAP_UP:
                out.extend(self._settle(agent, at))
        return out

    def resync(
        self, members: Iterable[Mapping[str, str]], now: float | None = None
    ) -> list[AgentStateChanged]:
        """Rebuild every agent from ``QueueMember`` events of a ``QueueStatus`` after a login.

        Members not in the snapshot were logged out while we were away.
        ``now`` is the time of the snapshot (default: Asterisk now, which is no
        earlier than any ``LastCall``/``LastPause``/``LoginTime`` in it).
        """
        snapshot = list(members)
        for msg in snapshot:  # a snapshot's events carry no Timestamp
            for header in ("LastCall", "LastPause", "LoginTime"):
                reported = epoch(msg.get(header))
                if reported is not None:
                    self._asterisk.at_least(reported)
        return self._resync(snapshot, self.asterisk_now() if now is None else now)

    # -- event handling --------------------------------------------------------------

    def _feed(self, name: str, msg: Mapping[str, str], ts: float) -> list[AgentStateChanged]:
        interface = msg.get("Interface") or ""
        if not interface:
            return []
        queue = msg.get("Queue") or ""
        out = self.expire(ts)
        agent = self._agents.get(interface)
        if name == "QueueMemberRemoved":
            if agent is None or not queue:
                return out
            agent.members.pop(queue, None)
            if not agent.members:
                agent.phase, agent.queue_call = _Phase.IDLE, False
            self._update_device(agent, msg)
        elif name in _MEMBER_EVENTS:
            if not queue:
                return out
            if agent is None:
                agent = self._agents[interface] = _Agent(interface)
            member = agent.members.get(queue)
            if member is None:
                member = agent.members[queue] = _Member(queue)
                member.logged_in_since = epoch(msg.get("LoginTime")) or ts
            self._update_member(agent, member, msg, ts, pause_event=name == "QueueMemberPause")
        elif name in _AGENT_EVENTS:
            if name in ("AgentCalled", "AgentConnect") and queue:
                # app_queue only rings members, so the member exists even if we
                # started after it was added and before a resync.
                if agent is None:
                    agent = self._agents[interface] = _Agent(interface)
                agent.members.setdefault(queue, _Member(queue))
            if agent is None:
                return out
            agent.member_name = msg.get("MemberName") or agent.member_name
            if name == "AgentCalled":
                agent.phase, agent.queue_call = _Phase.RINGING, True
            elif name == "AgentConnect":
                agent.phase, agent.queue_call = _Phase.ON_CALL, True
            elif name == "AgentComplete":
                agent.phase, agent.queue_call = _Phase.IDLE, False
                if ts > 0:
                    agent.last_call = max(agent.last_call or 0.0, ts)
            elif agent.phase is _Phase.RINGING:  # AgentRingNoAnswer, AgentDump
                agent.phase, agent.queue_call = _Phase.IDLE, False
        else:
            return out
        out.extend(self._settle(agent, ts, queue or None))
        return out

    def _update_member(
        self, agent: _Agent, member: _Member, msg: Mapping[str, str], ts: float, pause_event: bool
    ) -> None:
        agent.member_name = msg.get("MemberName") or msg.get("Name") or agent.member_name
        member.penalty = int_or(msg.get("Penalty"), member.penalty)
        member.calls_taken = int_or(msg.get("CallsTaken"), member.calls_taken)
        wrapup = msg.get("Wrapuptime")
        if wrapup is not None:
            agent.wrapup_s = float(max(0, int_or(wrapup, 0)))
        last_call = epoch(msg.get("LastCall"))
        # Asterisk's whole-second LastCall replaces AgentComplete's Timestamp: it is
        # what app_queue measures the wrap-up from.
        if last_call is not None and last_call >= math.floor(agent.last_call or 0.0):
            agent.last_call = last_call
        if "Paused" in msg:
            paused = paused_flag(msg.get("Paused"))
            # Shown on pages and wallboards: text, but never control characters.
            raw = msg.get("PausedReason") or msg.get("Reason") or ""
            reason = printable(raw)[:MAX_REASON] or None
            if paused:
                # A new pause, or a new reason for one (Asterisk then updates LastPause).
                if not member.paused or pause_event:
                    member.paused_since = ts or epoch(msg.get("LastPause"))
                member.paused_reason = reason
            else:
                member.paused_since = None
                member.paused_reason = None
            member.paused = paused
        self._update_device(agent, msg)

    def _update_device(self, agent: _Agent, msg: Mapping[str, str]) -> None:
        device = _DEVICE_CODES.get((msg.get("Status") or "").strip())
        if device is None:
            return
        agent.device = device
        in_call = msg.get("InCall") == "1"
        if agent.queue_call:
            # During a queue call app_queue's events decide; the device going idle
            # (a cancelled ring, a hang-up before AgentComplete) ends it.
            if (device in _DEVICE_FREE or device in _DEVICE_GONE) and not in_call:
                agent.phase, agent.queue_call = _Phase.IDLE, False
            return
        if in_call or device in _DEVICE_TALKING:
            agent.phase = _Phase.ON_CALL
        elif device is DeviceState.RINGING:
            agent.phase = _Phase.RINGING
        else:
            agent.phase = _Phase.IDLE

    # -- state ---------------------------------------------------------------------

    def _wrapup_s(self, agent: _Agent) -> float:
        return self.default_wrapup_s if agent.wrapup_s is None else agent.wrapup_s

    def _wrap_until(self, agent: _Agent) -> float | None:
        wrapup = self._wrapup_s(agent)
        if agent.last_call is None or wrapup <= 0:
            return None
        return agent.last_call + wrapup

    def _state_at(self, agent: _Agent, now: float) -> tuple[AgentState, float | None]:
        """The state at ``now`` and, if it started on its own, when (end of a wrap-up)."""
        if not agent.members:
            return AgentState.LOGGED_OUT, None
        if agent.phase is _Phase.ON_CALL:
            return AgentState.ON_CALL, None
        if agent.phase is _Phase.RINGING:
            return AgentState.RINGING, None
        if all(m.paused for m in agent.members.values()):
            return AgentState.PAUSED, None
        until = self._wrap_until(agent)
        if until is not None:
            if now < until:
                return AgentState.WRAP_UP, None
            if agent.state is AgentState.WRAP_UP:
                return AgentState.AVAILABLE, until
        return AgentState.AVAILABLE, None

    def _settle(
        self, agent: _Agent, ts: float, queue: str | None = None, *, resync: bool = False
    ) -> list[AgentStateChanged]:
        state, started = self._state_at(agent, ts)
        reason = self._pause(agent)[0] if state is AgentState.PAUSED else None
        if state is agent.state:
            if state is not AgentState.PAUSED or reason == agent.reason:
                return []
            # Paused again with another reason: the same state, news for a wallboard.
            agent.reason = reason
            return [
                AgentStateChanged(
                    interface=agent.interface,
                    member_name=agent.member_name,
                    state=state,
                    previous=state,
                    since=agent.since if agent.since is not None else ts,
                    paused_reason=reason,
                    queue=queue,
                )
            ]
        previous = agent.state
        since = started if started is not None else ts
        if resync:
            since = self._resync_since(agent, state, ts)
        elif state is AgentState.WRAP_UP and agent.last_call is not None:
            since = min(ts, agent.last_call)
        agent.state, agent.since, agent.reason = state, since, reason
        return [
            AgentStateChanged(
                interface=agent.interface,
                member_name=agent.member_name,
                state=state,
                previous=previous,
                since=since,
                paused_reason=reason,
                queue=queue,
            )
        ]

    def _resync_since(self, agent: _Agent, state: AgentState, now: float) -> float:
        """Best lower bound for a state found by a resync, from Asterisk's own times."""
        known: list[float | None] = []
        if state is AgentState.PAUSED:
            known = [self._pause(agent)[1]]
        elif state is AgentState.WRAP_UP:
            known = [agent.last_call]
        elif state is AgentState.AVAILABLE:
            known = [m.logged_in_since for m in agent.members.values()]
            known += [self._wrap_until(agent)]
        candidates = [t for t in known if t is not None and t <= now]
        return max(candidates) if candidates else now

    def _pause(self, agent: _Agent) -> tuple[str | None, float | None]:
        """Reason and start of the latest pause among the queues it is paused in."""
        paused = [m for m in agent.members.values() if m.paused]
        if not paused:
            return None, None
        latest = max(paused, key=lambda m: m.paused_since or 0.0)
        return latest.paused_reason, latest.paused_since

    def _status(self, agent: _Agent, now: float) -> AgentStatus:
        state, started = self._state_at(agent, now)
        if state is agent.state:
            since = agent.since
        elif started is not None:
            since = started
        else:
            since = now
        reason, paused_since = self._pause(agent)
        until = self._wrap_until(agent)
        return AgentStatus(
            interface=agent.interface,
            member_name=agent.member_name,
            state=state,
            since=since,
            paused_reason=reason,
            paused_since=paused_since,
            wrap_up_until=until if state is AgentState.WRAP_UP else None,
            device=agent.device,
            queues=tuple(
                QueueMembership(
                    queue=m.queue,
                    paused=m.paused,
                    paused_reason=m.paused_reason,
                    paused_since=m.paused_since,
                    penalty=m.penalty,
                    calls_taken=m.calls_taken,
                    logged_in_since=m.logged_in_since,
                )
                for m in sorted(agent.members.values(), key=lambda m: m.queue)
            ),
            calls_taken=sum(m.calls_taken for m in agent.members.values()),
            last_call=agent.last_call,
        )

    # -- resync --------------------------------------------------------------------

    def _resync(self, members: list[Mapping[str, str]], now: float) -> list[AgentStateChanged]:
        seen: dict[str, _Agent] = {}
        for msg in members:
            interface = msg.get("Location") or msg.get("Interface") or ""
            queue = msg.get("Queue") or ""
            if not interface or not queue:
                continue
            old = self._agents.get(interface)
            agent = seen.get(interface)
            if agent is None:
                agent = seen[interface] = _Agent(interface)
                if old is not None:
                    agent.state, agent.since, agent.reason = old.state, old.since, old.reason
                    agent.last_call = old.last_call
            member = agent.members[queue] = _Member(queue)
            old_member = old.members.get(queue) if old is not None else None
            member.logged_in_since = epoch(msg.get("LoginTime")) or (
                old_member.logged_in_since if old_member else None
            )
            self._update_member(agent, member, msg, 0.0, pause_event=False)
            last_pause = epoch(msg.get("LastPause"))
            if member.paused:
                member.paused_since = last_pause or (
                    old_member.paused_since if old_member and old_member.paused else now
                )
        out: list[AgentStateChanged] = []
        for interface, old in self._agents.items():
            if interface not in seen and old.members:
                gone = _Agent(interface, member_name=old.member_name, device=old.device)
                gone.state, gone.since, gone.reason = old.state, old.since, old.reason
                gone.wrapup_s, gone.last_call = old.wrapup_s, old.last_call
                seen[interface] = gone
            elif interface not in seen:
                seen[interface] = old
        self._agents = seen
        for agent in seen.values():
            out.extend(self._settle(agent, now, resync=True))
        return out
