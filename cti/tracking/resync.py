"""Rebuild live calls from a snapshot (``CoreShowChannels``, ``QueueStatus``) after a (re)connect.

What a snapshot cannot tell is estimated from Asterisk's own numbers: a
channel's ``Duration`` gives its start, a ``QueueEntry``'s ``Wait`` the queue
join, and a bridged, up channel other than the caller an answer (whose agent
is the channel's interface and whose wait is unknown). A channel's recording
(``MIXMONITOR_FILENAME``) we did not see start is put on its call's timeline
as started when the channel's ``Duration`` says: the call's end catalogs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cti.tracking import values
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.model import Call, CallState
from cti.tracking.state import Calls

__all__ = ["resync"]


def resync(
    calls: Calls,
    channels: Iterable[Mapping[str, str]],
    queue_entries: Iterable[Mapping[str, str]],
    now: float,
    recordings: Mapping[str, str] | None = None,
) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    live: dict[str, Mapping[str, str]] = {}
    for info in channels:
        if info.get("Uniqueid"):
            live[info["Uniqueid"]] = info
    # 1. channels we knew that are gone: we missed their Hangup
    for uid in [uid for uid in calls.channels if uid not in live]:
        channel = calls.channels.pop(uid)
        channel.call.channels.pop(uid, None)
    for call in [c for c in calls.calls.values() if not c.channels]:
        out.extend(calls.end(call, now, note="hangup missed while disconnected (resync)"))
    # 2. channels we did not know, the caller first: the oldest, and of channels as old
    # (Duration has whole seconds) the one the call began with (Uniqueid = Linkedid)
    for info in sorted(live.values(), key=_caller_first):
        _channel(calls, info, now, out)
    # 3. answered calls: a bridged non-caller channel means someone answered
    for call in calls.calls.values():
        if call.answered_at is None:
            _answer(call, live, now)
    # 4. queue entries tell how long each caller has waited
    for entry in queue_entries:
        _queue_entry(calls, entry, now)
    # 5. recordings that started while we were away
    for uid, file in (recordings or {}).items():
        _recording(calls, live.get(uid), uid, file, now, out)
    return calls.take_pending(out)


def _caller_first(info: Mapping[str, str]) -> tuple[float, bool]:
    own = info.get("Uniqueid") == (info.get("Linkedid") or info.get("Uniqueid"))
    return -values.duration_s(info.get("Duration")), not own


def _channel(calls: Calls, info: Mapping[str, str], now: float, out: list[DomainEvent]) -> None:
    uid = info.get("Uniqueid") or ""
    linkedid = info.get("Linkedid") or uid
    known = calls.channels.get(uid)
    if known is not None:
        if known.call.linkedid != linkedid:
            calls.move(known, linkedid, now)
        return
    call = calls.calls.get(linkedid)
    age = values.duration_s(info.get("Duration"))
    if call is None:
        call = Call(
            linkedid=linkedid,
            started_at=now - age,
            caller_uid=uid,
            caller_number=values.clean_id(info.get("CallerIDNum")),
            caller_name=values.clean_name(info.get("CallerIDName")),
            dnis=values.dialled_exten(info.get("Exten")),
        )
        calls.calls[linkedid] = call
        out.append(calls.start(call, resync=True))
    calls.add_channel(call, uid, info.get("Channel") or "")
    if info.get("Application") == "Queue" and call.answered_at is None and not call.in_queue:
        call.queue = (info.get("ApplicationData") or "").split(",", 1)[0] or None
        call.in_queue = True
        call.queue_uid = uid
        if call.joined_at is None:
            # Upper bound (includes the IVR); a QueueEntry's Wait refines it.
            call.joined_at = now - age
        call.state = CallState.QUEUED


def _answer(call: Call, live: Mapping[str, Mapping[str, str]], now: float) -> None:
    for uid, channel in call.channels.items():
        info = live.get(uid)
        if (
            uid != call.caller_uid
            and info is not None
            and info.get("BridgeId")
            and info.get("ChannelState") == "6"
        ):
            call.answered_at = now - values.duration_s(info.get("Duration"))
            call.agent = values.interface_of(channel.name)
            call.in_queue = False
            call.state = CallState.ANSWERED
            call.wait_s = None  # the queue join happened while we were away
            return


def _recording(
    calls: Calls,
    info: Mapping[str, str] | None,
    uid: str,
    file: str,
    now: float,
    out: list[DomainEvent],
) -> None:
    channel = calls.channels.get(uid)
    if channel is None or info is None or file in channel.call.recordings:
        return
    call = channel.call
    call.recordings.append(file)
    channel.recording_file = call.recording_file = file
    # The recording began when the channel answered: its Duration is the upper bound.
    began = now - values.duration_s(info.get("Duration"))
    data = {"channel": channel.name, "uniqueid": uid, "file": file, "resync": True}
    out.append(calls.emit(call, DomainEventType.RECORDING_STARTED, began, data))


def _queue_entry(calls: Calls, entry: Mapping[str, str], now: float) -> None:
    channel = calls.channels.get(entry.get("Uniqueid") or "")
    if channel is None or channel.call.answered_at is not None:
        return
    call = channel.call
    wait = values.to_int(entry.get("Wait"))
    call.queue = entry.get("Queue") or call.queue
    call.in_queue = True
    call.queue_uid = channel.uniqueid
    call.state = CallState.QUEUED
    if wait is not None:
        call.joined_at = now - wait
