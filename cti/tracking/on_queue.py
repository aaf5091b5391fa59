"""Handlers for app_queue: the caller joining and leaving, members rung, answers.

How app_queue's events decide an outcome is told in :mod:`cti.tracking.tracker`.
"""

from __future__ import annotations

from collections.abc import Mapping

from cti.tracking import values
from cti.tracking.events import DomainEvent, DomainEventType, Outcome
from cti.tracking.model import CallState, Channel
from cti.tracking.state import Calls

__all__ = [
    "on_agent_called",
    "on_agent_complete",
    "on_agent_connect",
    "on_agent_ring_no_answer",
    "on_queue_abandon",
    "on_queue_join",
    "on_queue_leave",
    "on_queuestatus",
]

# QUEUESTATUS values meaning "the queue let the caller go unanswered".
_QUEUE_GAVE_UP = frozenset(("TIMEOUT", "LEAVEEMPTY", "LEAVEUNAVAIL"))


def on_queue_join(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    queue = msg.get("Queue")
    if call.answered_at is None:
        call.queue = queue
        call.joined_at = ts
        call.left_at = None
        call.in_queue = True
        call.queue_uid = channel.uniqueid
        call.abandon_pending = False
        call.hangup_requested = False
        call.queue_result = None
        call.agent_channels.clear()
        call.state = CallState.QUEUED
    data = {"queue": queue, "position": values.to_int(msg.get("Position")), "channel": channel.name}
    return [calls.emit(call, DomainEventType.QUEUED, ts, data)]


def on_queue_abandon(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    # app_queue raises this for a caller who hung up *and* for a queue that gave
    # up: the QUEUESTATUS that follows (or the hang-up) settles which.
    call = channel.call
    if call.answered_at is None and call.joined_at is not None:
        call.abandon_pending = True
        call.abandon_guess = Outcome.ABANDONED if call.hangup_requested else Outcome.TIMEOUT
        call.in_queue = False
        call.left_at = ts
        call.state = CallState.LEFT_QUEUE
    return []


def on_queue_leave(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    if call.answered_at is None and call.in_queue:
        call.in_queue = False
        if call.left_at is None:
            call.left_at = ts
        call.state = CallState.LEFT_QUEUE
    return []


def on_queuestatus(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    """``VarSet QUEUESTATUS``: app_queue's own verdict, set as ``Queue()`` returns."""
    call = channel.call
    status = msg.get("Value") or ""
    if call.answered_at is not None or call.joined_at is None or call.queue_result is not None:
        return []
    if call.left_at is None:
        call.left_at = ts
    call.in_queue = False
    if status in _QUEUE_GAVE_UP:
        return [calls.resolve_abandon(call, Outcome.TIMEOUT, ts, status)]
    if call.abandon_pending:
        return [calls.resolve_abandon(call, Outcome.ABANDONED, ts, status)]
    return []


def on_agent_called(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    dest_uid = msg.get("DestUniqueid")
    if dest_uid:
        call.agent_channels.add(dest_uid)
    if call.answered_at is None:
        call.state = CallState.AGENT_RINGING
    data = {
        "queue": msg.get("Queue"),
        "interface": msg.get("Interface"),
        "member_name": msg.get("MemberName"),
        "agent_channel": msg.get("DestChannel"),
    }
    return [calls.emit(call, DomainEventType.AGENT_RINGING, ts, data)]


def on_agent_ring_no_answer(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    ring_ms = values.to_int(msg.get("RingTime"))
    if call.answered_at is None and call.in_queue:
        call.state = CallState.QUEUED
    data = {
        "queue": msg.get("Queue"),
        "interface": msg.get("Interface"),
        "member_name": msg.get("MemberName"),
        "ring_s": None if ring_ms is None else ring_ms / 1000.0,
    }
    return [calls.emit(call, DomainEventType.AGENT_RING_NO_ANSWER, ts, data)]


def on_agent_connect(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    interface = msg.get("Interface") or msg.get("MemberName") or None
    queue = msg.get("Queue")
    if call.answered_at is not None:
        # Answered again after a transfer back into a queue: timeline only.
        again = {
            "queue": queue,
            "agent": interface,
            "member_name": msg.get("MemberName"),
            "again": True,
        }
        return [calls.emit(call, DomainEventType.ANSWERED, ts, again)]
    call.answered_at = ts
    call.agent = interface
    call.queue = queue or call.queue
    call.in_queue = False
    call.abandon_pending = False
    call.state = CallState.ANSWERED
    if call.joined_at is not None:
        call.wait_s = max(0.0, ts - call.joined_at)
    else:
        hold = values.to_int(msg.get("HoldTime"))
        call.wait_s = None if hold is None else float(hold)
    data = {
        "queue": call.queue,
        "agent": interface,
        "member_name": msg.get("MemberName"),
        "agent_channel": msg.get("DestChannel"),
        "wait_s": call.wait_s,
    }
    return [calls.emit(call, DomainEventType.ANSWERED, ts, data)]


def on_agent_complete(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    # Linkedid bookkeeping only (known_channel); the call ends with its channels.
    return []
