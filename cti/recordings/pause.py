"""Pause and resume the recording of a live call (card numbers must never be on tape).

Asterisk 22 has no PauseMonitor (app_monitor is gone); ``MixMonitorMute``
makes MixMonitor write silence instead of the audio, so the file keeps its
timeline and QA still hears where the pause was. Every channel of the call with
a running MixMonitor is muted (a transferred call may have more than one). The
pause and the resume go on the call's timeline, on Asterisk's clock, so the
catalog can mark the silent span on the recording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cti.ami.actions import ActionSender, mix_monitor_pause, mix_monitor_resume
from cti.ami.failures import connected_sender, run_action
from cti.errors import Conflict, NotFound
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.model import LiveCall
from cti.tracking.values import extension_of, interface_of

Annotate = Callable[[str, DomainEventType, dict[str, Any], float], None]
"""Put an event on a live call's timeline: (any uniqueid of the call, type, data, time)."""


class NoLiveCall(NotFound):
    pass


class NotRecording(Conflict):
    pass


@dataclass(frozen=True, slots=True)
class PauseState:
    linkedid: str
    paused: bool
    at: datetime
    channels: tuple[str, ...]
    changed: bool
    """False when the call already was in the asked state (nothing was sent)."""


def recording_channels(call: LiveCall) -> dict[str, str]:
    """Channel name -> uniqueid of every live channel of the call with a running MixMonitor."""
    running: dict[str, str] = {}
    for event in call.timeline:
        name = event.data.get("channel")
        if not isinstance(name, str):
            continue
        if event.type is DomainEventType.RECORDING_STARTED:
            running[name] = str(event.data.get("uniqueid") or "")
        elif event.type is DomainEventType.RECORDING_STOPPED:
            running.pop(name, None)
    live = set(call.channels)
    return {name: uid for name, uid in running.items() if name in live}


def is_paused(timeline: Iterable[DomainEvent]) -> bool:
    paused = False
    for event in timeline:
        if event.type is DomainEventType.RECORDING_PAUSED:
            paused = True
        elif event.type is DomainEventType.RECORDING_RESUMED:
            paused = False
    return paused


def agent_on_call(call: LiveCall, extension: str) -> bool:
    """Is the agent at ``extension`` on this call now (one of its live channels)?"""
    return any(extension_of(interface_of(name)) == extension for name in call.channels)


class RecordingPauses:
    def __init__(
        self,
        live_call: Callable[[str], LiveCall | None],
        ami: Callable[[], object | None],
        annotate: Annotate,
        asterisk_now: Callable[[], float],
    ) -> None:
        self._live_call = live_call
        self._ami = ami
        self._annotate = annotate
        self._asterisk_now = asterisk_now

    def live(self, linkedid: str) -> LiveCall:
        call = self._live_call(linkedid)
        if call is None:
            raise NoLiveCall(f"no call {linkedid!r} in progress")
        return call

    async def set_paused(self, linkedid: str, paused: bool, by: str | None) -> PauseState:
        call = self.live(linkedid)
        channels = recording_channels(call)
        if not channels:
            raise NotRecording(f"call {linkedid!r} is not being recorded now")
        now = self._asterisk_now()
        if is_paused(call.timeline) == paused:
            return PauseState(linkedid, paused, _utc(now), tuple(channels), changed=False)
        sender = self._sender()
        action = mix_monitor_pause if paused else mix_monitor_resume
        done: list[str] = []
        for name in channels:
            await self._run(action, sender, name, done)
            done.append(name)
        kind = DomainEventType.RECORDING_PAUSED if paused else DomainEventType.RECORDING_RESUMED
        for name, uid in channels.items():
            data: dict[str, Any] = {"channel": name, "uniqueid": uid}
            if by:
                data["by"] = by
            self._annotate(uid, kind, data, now)
        return PauseState(linkedid, paused, _utc(now), tuple(channels), changed=True)

    def _sender(self) -> ActionSender:
        return connected_sender(self._ami())

    @staticmethod
    async def _run(action: Any, sender: ActionSender, channel: str, done: list[str]) -> None:
        note = f" (already muted/unmuted: {', '.join(done)})" if done else ""
        await run_action(
            lambda: action(sender, channel), what=f"MixMonitorMute on {channel}", note=note
        )


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
