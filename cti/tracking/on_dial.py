"""Handlers for ``Dial()`` from the caller outside a queue (the preferred agent).

Only a Dial from the caller channel before it ever joined a queue can answer
the call outside app_queue; after a queue gave up, queue_log's verdict
(timeout/abandoned) stands, and Dials of app_queue itself (to members it rang
with ``AgentCalled``) are the queue's business.

A click-to-call turns this round: the first channel is the agent's own phone
(``CTI_CALLBACK_AGENT``) and its Dial rings the customer. The agent's desktop
pops the customer as the customer's phone rings; the customer answering is the
call's answer; a customer who does not answer is no agent's ring-no-answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from cti.tracking import values
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.model import Call, CallState, Channel
from cti.tracking.state import Calls

__all__ = ["on_dial_begin", "on_dial_end"]


def on_dial_begin(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    dest_uid = msg.get("DestUniqueid")
    if (
        not dest_uid
        or call.answered_at is not None
        or call.joined_at is not None
        or channel.uniqueid != call.caller_uid
    ):
        return []
    call.dial_started[dest_uid] = ts
    if call.callback_agent is not None:
        return [_customer_ringing(calls, channel, call.callback_agent, ts)]
    # The preferred agent's phone rings outside any queue (no AgentCalled): it
    # is still an agent ringing, and their desktop must pop.
    dest_name = msg.get("DestChannel") or ""
    call.state = CallState.AGENT_RINGING
    data = {
        "queue": None,
        "interface": values.interface_of(dest_name) if dest_name else None,
        "member_name": None,
        "agent_channel": dest_name,
        "direct": True,
    }
    return [calls.emit(call, DomainEventType.AGENT_RINGING, ts, data)]


def on_dial_end(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    dest_uid = msg.get("DestUniqueid") or ""
    started = call.dial_started.pop(dest_uid, None)
    dest_name = msg.get("DestChannel") or ""
    interface = values.interface_of(dest_name) if dest_name else None
    if started is None:
        return []
    if call.callback_agent is not None:
        return _customer_dial_end(calls, call, msg.get("DialStatus") or "", started, ts)
    if msg.get("DialStatus") != "ANSWER":
        if call.answered_at is None and not call.in_queue:
            call.state = CallState.STARTED
        missed = {
            "queue": None,
            "interface": interface,
            "member_name": None,
            "ring_s": max(0.0, ts - started),
            "dial_status": msg.get("DialStatus"),
            "direct": True,
        }
        return [calls.emit(call, DomainEventType.AGENT_RING_NO_ANSWER, ts, missed)]
    if call.answered_at is not None or call.in_queue or dest_uid in call.agent_channels:
        return []
    call.answered_at = ts
    call.agent = interface
    call.wait_s = max(0.0, ts - started)
    call.state = CallState.ANSWERED
    data = {
        "queue": None,
        "agent": call.agent,
        "agent_channel": dest_name,
        "direct": True,
        "wait_s": call.wait_s,
    }
    return [calls.emit(call, DomainEventType.ANSWERED, ts, data)]


def _customer_ringing(calls: Calls, channel: Channel, agent: str, ts: float) -> DomainEvent:
    data = {
        "queue": None,
        "interface": agent,
        "member_name": None,
        "agent_channel": channel.name,
        "direct": True,
        "callback": True,
    }
    return calls.emit(channel.call, DomainEventType.AGENT_RINGING, ts, data)


def _customer_dial_end(
    calls: Calls, call: Call, status: str, started: float, ts: float
) -> list[DomainEvent]:
    if call.customer_dial is not None:
        return []  # one customer leg per click-to-call
    call.customer_dial = status or "UNKNOWN"
    if status != "ANSWER":
        return []
    call.answered_at = ts
    call.agent = call.callback_agent
    call.wait_s = max(0.0, ts - started)
    call.state = CallState.ANSWERED
    data = {
        "queue": None,
        "agent": call.agent,
        "direct": True,
        "callback": True,
        "wait_s": call.wait_s,
    }
    return [calls.emit(call, DomainEventType.ANSWERED, ts, data)]
