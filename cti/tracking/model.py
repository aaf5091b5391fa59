"""The call model: what the tracker knows about a live call and its channels.

:class:`CallState`, :class:`LiveCall` and :class:`CallFacts` are public (the API and screen-pops
show them); :class:`Call` and :class:`Channel` are the tracker's own mutable
records, changed only by the event handlers and the resync.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.tracking.events import DomainEvent, Outcome

__all__ = [
    "Call",
    "CallFacts",
    "CallState",
    "Channel",
    "LiveCall",
    "WaitingCaller",
    "facts",
    "snapshot",
]


class CallState:
    """Values of :attr:`LiveCall.state`."""

    STARTED = "started"
    QUEUED = "queued"
    AGENT_RINGING = "agent_ringing"
    ANSWERED = "answered"
    ON_HOLD = "on_hold"
    LEFT_QUEUE = "left_queue"


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A snapshot of a call that has not ended yet."""

    linkedid: str
    caller_number: str | None
    caller_name: str | None
    dnis: str | None
    queue: str | None
    state: str
    agent: str | None
    started_at: float
    answered_at: float | None
    channels: tuple[str, ...]
    timeline: tuple[DomainEvent, ...]
    order_id: str | None = None
    direction: str = "inbound"


@dataclass(frozen=True, slots=True)
class CallFacts:
    """The few facts of a live call a screen-pop shows.

    Read on every agent-ringing event, so it copies six fields and nothing else
    (a :class:`LiveCall` copies the channels and the whole timeline).
    """

    caller_number: str | None
    caller_name: str | None
    dnis: str | None
    queue: str | None
    order_id: str | None
    direction: str


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """A caller in a queue now, not yet answered (a wallboard's "waiting")."""

    linkedid: str
    queue: str
    joined_at: float
    """The ``QueueCallerJoin`` Timestamp, on Asterisk's clock."""


@dataclass(slots=True)
class Channel:
    uniqueid: str
    name: str
    call: Call
    recording_file: str | None = None
    """``MIXMONITOR_FILENAME`` of this channel, set just before its ``MixMonitorStart``."""


@dataclass(slots=True)
class Call:
    linkedid: str
    started_at: float
    caller_uid: str
    caller_number: str | None = None
    caller_name: str | None = None
    dnis: str | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    timeline: list[DomainEvent] = field(default_factory=list)
    state: str = CallState.STARTED
    # current / deciding queue entry
    queue: str | None = None
    joined_at: float | None = None
    left_at: float | None = None
    in_queue: bool = False
    queue_uid: str | None = None  # channel that ran Queue()
    abandon_pending: bool = False
    # Without QUEUESTATUS (AMI user lacking the "dialplan" class): an abandon
    # preceded by a hang-up request on the queue channel is the caller's doing,
    # otherwise the queue gave up (app_queue raises QueueCallerAbandon for both).
    hangup_requested: bool = False
    abandon_guess: Outcome = Outcome.ABANDONED
    queue_result: Outcome | None = None
    agent_channels: set[str] = field(default_factory=set)  # DestChannel of AgentCalled
    # answer
    answered_at: float | None = None
    agent: str | None = None
    wait_s: float | None = None
    talk_ended_at: float | None = None
    """The agent hung up and the caller stayed on the line (``CTI_TALK_ENDED``, the
    satisfaction survey): the talk ends here, not when the caller leaves."""
    dial_started: dict[str, float] = field(default_factory=dict)  # dest uniqueid -> DialBegin
    hangup_cause: int | None = None
    recording_file: str | None = None
    """The newest ``MIXMONITOR_FILENAME`` set on any channel of the call."""
    recordings: list[str] = field(default_factory=list)
    """Every file recorded for the call, in order of start, each once."""
    order_id: str | None = None
    """``CTI_ORDER_ID`` set by the dialplan (an order-confirmation call)."""
    direction: str = "inbound"
    """``CTI_DIRECTION``: ``inbound`` (hotline) or ``outbound`` (a call we placed)."""
    callback_agent: str | None = None
    """``CTI_CALLBACK_AGENT``: the interface of the agent who placed this call from the
    desktop (click-to-call). The call's first channel is that agent's phone, and its
    ``Dial()`` rings the customer, not an agent."""
    customer_dial: str | None = None
    """DIALSTATUS of the customer's leg of a click-to-call; None until it is known."""
    routed_queue: str | None = None
    """``CTI_QUEUE`` on the caller channel: the queue the hotline dialplan serves the call
    from, also when it rings the preferred agent outside the queue first."""
    in_voicemail: bool = False
    """The caller channel is running the hotline's voicemail AGI step."""
    voicemail: bool = False
    """The voicemail app took the caller (its AGI ran, it did not fail)."""


def snapshot(call: Call) -> LiveCall:
    return LiveCall(
        linkedid=call.linkedid,
        caller_number=call.caller_number,
        caller_name=call.caller_name,
        dnis=call.dnis,
        queue=call.queue,
        state=call.state,
        agent=call.agent,
        started_at=call.started_at,
        answered_at=call.answered_at,
        channels=tuple(ch.name for ch in call.channels.values()),
        timeline=tuple(call.timeline),
        order_id=call.order_id,
        direction=call.direction,
    )


def facts(call: Call) -> CallFacts:
    return CallFacts(
        caller_number=call.caller_number,
        caller_name=call.caller_name,
        dnis=call.dnis,
        queue=call.queue,
        order_id=call.order_id,
        direction=call.direction,
    )
