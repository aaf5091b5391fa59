"""Handlers for a channel's life: creation, caller id, variables, bridging, hang-up."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from cti.tracking import values
from cti.tracking.events import DomainEvent
from cti.tracking.model import Call, Channel
from cti.tracking.on_queue import on_queuestatus
from cti.tracking.state import Calls, Handler

__all__ = [
    "VARIABLES",
    "on_bridge_enter",
    "on_hangup",
    "on_hangup_request",
    "on_newcallerid",
    "on_newchannel",
    "on_newexten",
    "on_rename",
]

TALK_ENDED = "CTI_TALK_ENDED"
"""Set on the caller's channel when the agent hung up and the caller stays (the survey)."""
_DNIS_VARIABLES = frozenset(("CTI_DNIS", "__CTI_DNIS", "_CTI_DNIS"))
_VOICEMAIL_AGI = "/voicemail"
"""The end of the AGI URL of the voicemail app in the hotline dialplan (cti-hotline-overflow)."""
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def on_newchannel(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    uid = msg.get("Uniqueid")
    if not uid or uid in calls.channels:
        return []
    linkedid = msg.get("Linkedid") or uid
    call = calls.calls.get(linkedid)
    out: list[DomainEvent] = []
    if call is None:
        call = Call(
            linkedid=linkedid,
            started_at=ts,
            caller_uid=uid,
            caller_number=values.clean_id(msg.get("CallerIDNum")),
            caller_name=values.clean_name(msg.get("CallerIDName")),
            dnis=values.dialled_exten(msg.get("Exten")),
        )
        calls.calls[linkedid] = call
        out.append(calls.start(call))
    elif uid == linkedid and call.caller_uid != uid:
        # The channel that owns the Linkedid is the caller, even if a sibling
        # (e.g. the ;2 half of a Local pair) was announced first.
        call.caller_uid = uid
        call.caller_number = values.clean_id(msg.get("CallerIDNum")) or call.caller_number
        call.caller_name = values.clean_name(msg.get("CallerIDName")) or call.caller_name
        call.dnis = values.dialled_exten(msg.get("Exten")) or call.dnis
    calls.add_channel(call, uid, msg.get("Channel") or "")
    return out


def on_newexten(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    # Not via known_channel: dialplan steps never change a Linkedid.
    uid = msg.get("Uniqueid") or ""
    channel = calls.channels.get(uid)
    if channel is None:
        return []
    call = channel.call
    if uid != call.caller_uid:
        return []
    if call.dnis is None:
        call.dnis = values.dialled_exten(msg.get("Exten"))
    if msg.get("Application") == "AGI" and (msg.get("AppData") or "").endswith(_VOICEMAIL_AGI):
        # The hotline's overflow hands the caller to the voicemail app; AGISTATUS tells
        # whether the app was there (see _on_caller_variable).
        call.in_voicemail = True
    if call.caller_number is None and values.is_unknown_id(msg.get("CallerIDNum")):
        # "<unknown>" in AMI is also how an empty number is shown: the
        # dialplan's NoOp has the raw value.
        raw = values.hotline_noop_number(msg.get("AppData") or "")
        if raw:
            call.caller_number = raw
    return []


def on_newcallerid(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    if channel.uniqueid != call.caller_uid:
        return []
    if call.direction == "outbound":
        # A call we placed presents the shop's number and name: the party stays the
        # customer we dialled (CTI_CUSTOMER).
        return []
    number = values.clean_id(msg.get("CallerIDNum"))
    name = values.clean_name(msg.get("CallerIDName"))
    if number is not None:
        call.caller_number = number
    if name is not None:
        call.caller_name = name
    return []


def _set_order(call: Call, value: str) -> None:
    call.order_id = value


def _set_direction(call: Call, value: str) -> None:
    if value in ("inbound", "outbound"):
        call.direction = value


def _set_customer(call: Call, value: str) -> None:
    # A call we placed presents the shop's number as its caller id; the party of the
    # call is the customer we dialled.
    call.caller_number = value
    call.direction = "outbound"


def _set_callback_agent(call: Call, value: str) -> None:
    # Click-to-call: the call's first channel is this agent's own phone.
    if "/" in value and values.extension_of(value) is not None:
        call.callback_agent = value
        call.direction = "outbound"


# Facts the dialplan states about the whole call (an outbound confirmation sets both).
_CALL_FACTS: dict[str, Callable[[Call, str], None]] = {
    "CTI_ORDER_ID": _set_order,
    "CTI_DIRECTION": _set_direction,
    "CTI_CUSTOMER": _set_customer,
    "CTI_CALLBACK_AGENT": _set_callback_agent,
}


def _on_queuestatus(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channel(msg, ts)
    return [] if channel is None else on_queuestatus(calls, channel, msg, ts)


def _on_mixmonitor_filename(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    if channel is not None:
        # MixMonitorStart (next) names only the channel: remember the file for it.
        channel.recording_file = channel.call.recording_file = msg.get("Value") or None
    return []


def _on_caller_variable(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    if channel is not None and channel.uniqueid == channel.call.caller_uid:
        variable = msg.get("Variable") or ""
        _caller_variable(channel.call, variable, (msg.get("Value") or "").strip())
    return []


def _on_call_fact(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    value = (msg.get("Value") or "").strip()
    # The same bounds as the order API's ids; anything else is not an order id.
    if channel is not None and 0 < len(value) <= 64 and value.isprintable():
        _CALL_FACTS[msg.get("Variable") or ""](channel.call, value)
    return []


def _on_talk_ended(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    if channel is not None and channel.uniqueid == channel.call.caller_uid:
        call = channel.call
        if call.answered_at is not None and call.talk_ended_at is None:
            call.talk_ended_at = ts
    return []


def _on_dnis(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    if channel is not None and channel.uniqueid == channel.call.caller_uid:
        dnis = msg.get("Value")
        if dnis:
            channel.call.dnis = dnis
    return []


VARIABLES: dict[str, Handler] = {
    "QUEUESTATUS": _on_queuestatus,
    "MIXMONITOR_FILENAME": _on_mixmonitor_filename,
    "CTI_QUEUE": _on_caller_variable,
    "AGISTATUS": _on_caller_variable,
    TALK_ENDED: _on_talk_ended,
    **dict.fromkeys(_CALL_FACTS, _on_call_fact),
    **dict.fromkeys(_DNIS_VARIABLES, _on_dnis),
}
"""``VarSet`` handlers by variable name. Every other variable (most of the ``VarSet``
traffic: ``BRIDGEPEER``, ``QUEUE*``, ``DIALEDTIME``...) does not concern calls; the
tracker drops it before it parses the event's time."""


def _caller_variable(call: Call, variable: str, value: str) -> None:
    if variable == "CTI_QUEUE":
        # The dialplan sets it empty, then the AGI's choice, then (sanitized) the queue it
        # uses: the last non-empty value is the queue of the call.
        if _QUEUE_NAME.match(value):
            call.routed_queue = value
    elif call.in_voicemail:
        # AGISTATUS after the voicemail step: FAILURE means the app was not reachable.
        call.in_voicemail = False
        call.voicemail = call.voicemail or value in ("SUCCESS", "HANGUP")


def on_rename(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    if channel is not None:
        channel.name = msg.get("Newname") or msg.get("NewName") or channel.name
    return []


def on_bridge_enter(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    # Bridging is where Asterisk updates Linkedids; known_channel has followed it.
    return []


def on_hangup(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    uid = channel.uniqueid
    del calls.channels[uid]
    call.channels.pop(uid, None)
    if uid == call.caller_uid:
        call.hangup_cause = values.to_int(msg.get("Cause"))
    out: list[DomainEvent] = []
    if call.abandon_pending and uid == call.queue_uid:
        out.append(calls.resolve_abandon(call, call.abandon_guess, ts))
    if not call.channels:
        out.extend(calls.end(call, ts))
    return out


def on_hangup_request(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    channel = calls.channels.get(msg.get("Uniqueid") or "")
    if channel is not None and channel.uniqueid == channel.call.queue_uid:
        channel.call.hangup_requested = True
    return []
