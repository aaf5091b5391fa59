"""Handlers for what happens during a call: transfers, hold, recording."""

from __future__ import annotations

from collections.abc import Mapping

from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.model import CallState, Channel
from cti.tracking.state import Calls

__all__ = [
    "on_attended_transfer",
    "on_blind_transfer",
    "on_hold",
    "on_mixmonitor_start",
    "on_mixmonitor_stop",
    "on_unhold",
]


def on_blind_transfer(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    call = calls.call_of(msg, "Transferee", "Transferer")
    if call is None:
        return []
    data = {
        "kind": "blind",
        "result": msg.get("Result"),
        "transferer": msg.get("TransfererChannel"),
        "transferee": msg.get("TransfereeChannel"),
        "context": msg.get("Context"),
        "exten": msg.get("Extension"),
    }
    return [calls.emit(call, DomainEventType.TRANSFERRED, ts, data)]


def on_attended_transfer(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    call = calls.call_of(msg, "Transferee", "OrigTransferer", "SecondTransferer", "TransferTarget")
    if call is None:
        return []
    data = {
        "kind": "attended",
        "result": msg.get("Result"),
        "transferer": msg.get("OrigTransfererChannel"),
        "transferee": msg.get("TransfereeChannel"),
        "target": msg.get("TransferTargetChannel") or msg.get("SecondTransfererChannel"),
        "dest_type": msg.get("DestType"),
    }
    return [calls.emit(call, DomainEventType.TRANSFERRED, ts, data)]


def on_hold(calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
    call = channel.call
    if call.state == CallState.ANSWERED:
        call.state = CallState.ON_HOLD
    return [calls.emit(call, DomainEventType.HOLD, ts, {"channel": channel.name})]


def on_unhold(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    if call.state == CallState.ON_HOLD:
        call.state = CallState.ANSWERED
    return [calls.emit(call, DomainEventType.UNHOLD, ts, {"channel": channel.name})]


def on_mixmonitor_start(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    # Asterisk 22's MixMonitorStart names only the channel; the file came just
    # before in its VarSet MIXMONITOR_FILENAME.
    call = channel.call
    file = channel.recording_file or call.recording_file
    if file and file not in call.recordings:
        call.recordings.append(file)
    data = {"channel": channel.name, "uniqueid": channel.uniqueid, "file": file}
    return [calls.emit(call, DomainEventType.RECORDING_STARTED, ts, data)]


def on_mixmonitor_stop(
    calls: Calls, channel: Channel, msg: Mapping[str, str], ts: float
) -> list[DomainEvent]:
    call = channel.call
    data = {
        "channel": channel.name,
        "uniqueid": channel.uniqueid,
        "file": channel.recording_file or call.recording_file,
    }
    return [calls.emit(call, DomainEventType.RECORDING_STOPPED, ts, data)]
