"""Domain events produced by the call tracker.

The tracker turns raw AMI events into these values. They carry only data taken
from the events themselves (times come from the AMI ``Timestamp`` header), so
they can be compared against Asterisk's own queue_log and CDR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DomainEventType(StrEnum):
    CALL_STARTED = "call_started"
    ROUTED = "routed"
    QUEUED = "queued"
    AGENT_RINGING = "agent_ringing"
    AGENT_RING_NO_ANSWER = "agent_ring_no_answer"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    QUEUE_TIMEOUT = "queue_timeout"
    TRANSFERRED = "transferred"
    HOLD = "hold"
    UNHOLD = "unhold"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    RECORDING_PAUSED = "recording_paused"
    RECORDING_RESUMED = "recording_resumed"
    ENDED = "ended"


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    TIMEOUT = "timeout"
    NOT_QUEUED = "not_queued"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One thing that happened to a call, keyed by the call's Linkedid."""

    type: DomainEventType
    linkedid: str
    timestamp: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CallSummary:
    """A finished call, as stored in call records and printed by ``cti replay``."""

    linkedid: str
    caller_number: str | None
    caller_name: str | None
    dnis: str | None
    queue: str | None
    outcome: Outcome
    agent: str | None
    started_at: float
    ended_at: float
    wait_s: float | None
    talk_s: float | None
    hangup_cause: int | None
    timeline: list[DomainEvent] = field(default_factory=list)
    recordings: tuple[str, ...] = ()
    """MixMonitor files of the call (``MIXMONITOR_FILENAME``), in order of start, each once.

    A call recorded by the hotline dialplan has one; a transfer that records the
    new leg adds another. Started again on the same file (a caller sent back to
    the hotline) it is listed once.
    """
    order_id: str | None = None
    direction: str = "inbound"
    callback_agent: str | None = None
    """The interface of the agent who placed the call from the desktop (click-to-call)."""
    customer_dial: str | None = None
    """For a click-to-call: how dialling the customer ended (``ANSWER``, ``BUSY``,
    ``NOANSWER``, ``CANCEL``, ``CONGESTION``, ``CHANUNAVAIL``); None when the customer
    was never dialled (the agent did not answer their own phone)."""
    routed_queue: str | None = None
    """The queue the hotline dialplan named (``CTI_QUEUE``), asked or not."""
    voicemail: bool = False
    """The caller reached the voicemail app (overflow or closed hours)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "linkedid": self.linkedid,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "dnis": self.dnis,
            "queue": self.queue,
            "outcome": self.outcome.value,
            "agent": self.agent,
            "wait_s": None if self.wait_s is None else round(self.wait_s, 1),
            "talk_s": None if self.talk_s is None else round(self.talk_s, 1),
            "hangup_cause": self.hangup_cause,
            "recordings": list(self.recordings),
            "order_id": self.order_id,
            "direction": self.direction,
            "callback_agent": self.callback_agent,
            "customer_dial": self.customer_dial,
        }
