"""The tracker's tables and the moves every handler shares.

:class:`Calls` holds the live calls (by Linkedid) and their channels (by
Uniqueid); the event handlers and the resync change it only through these
methods or the records themselves, so the rules for following a Linkedid,
ending a call and deciding its outcome live in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from cti.tracking.model import Call, Channel

__all__ = ["Calls", "ChannelHandler", "Handler", "known_channel"]

Handler = Callable[["Calls", Mapping[str, str], float], list[DomainEvent]]
"""Handles one AMI event (headers, time) and returns the domain events it caused."""
ChannelHandler = Callable[["Calls", Channel, Mapping[str, str], float], list[DomainEvent]]
"""Handles one AMI event about a channel we know (Linkedid already followed)."""


class Calls:
    """Live calls and channels, plus ENDED events waiting to be handed out."""

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Channel] = {}
        self.pending_end: list[DomainEvent] = []
        """ENDED events of calls emptied by a Linkedid move, returned with the next output."""

    # -- finding ---------------------------------------------------------------------

    def channel(self, msg: Mapping[str, str], ts: float) -> Channel | None:
        """The known channel of an event, following a Linkedid change."""
        channel = self.channels.get(msg.get("Uniqueid") or "")
        if channel is None:
            return None
        linkedid = msg.get("Linkedid")
        if linkedid and linkedid != channel.call.linkedid:
            self.move(channel, linkedid, ts)
        return channel

    def call_of(self, msg: Mapping[str, str], *prefixes: str) -> Call | None:
        """The call of the first ``<prefix>Uniqueid`` (then ``<prefix>Linkedid``) we know."""
        for prefix in prefixes:
            channel = self.channels.get(msg.get(prefix + "Uniqueid") or "")
            if channel is not None:
                return channel.call
        for prefix in prefixes:
            call = self.calls.get(msg.get(prefix + "Linkedid") or "")
            if call is not None:
                return call
        return None

    # -- changing ----------------------------------------------------------------------

    def add_channel(self, call: Call, uniqueid: str, name: str) -> Channel:
        channel = Channel(uniqueid, name, call)
        call.channels[uniqueid] = channel
        self.channels[uniqueid] = channel
        return channel

    def move(self, channel: Channel, linkedid: str, ts: float) -> None:
        """Asterisk gave the channel another Linkedid (bridging): it joins that call."""
        old = channel.call
        new = self.calls.get(linkedid)
        if new is None:
            new = Call(linkedid=linkedid, started_at=ts, caller_uid=channel.uniqueid)
            self.calls[linkedid] = new
        old.channels.pop(channel.uniqueid, None)
        new.channels[channel.uniqueid] = channel
        channel.call = new
        if not old.channels:
            # Merged into an older call (bridged by a transfer): this one is over.
            self.pending_end.extend(self.end(old, ts, note=f"merged into {linkedid}"))

    def take_pending(self, out: list[DomainEvent]) -> list[DomainEvent]:
        """``out`` preceded by the ENDED events a Linkedid move produced meanwhile."""
        if not self.pending_end:
            return out
        merged = [*self.pending_end, *out]
        self.pending_end.clear()
        return merged

    # -- timeline ------------------------------------------------------------------------

    @staticmethod
    def emit(call: Call, kind: DomainEventType, ts: float, data: dict[str, Any]) -> DomainEvent:
        event = DomainEvent(kind, call.linkedid, ts, data)
        call.timeline.append(event)
        return event

    def start(self, call: Call, resync: bool = False) -> DomainEvent:
        data: dict[str, Any] = {
            "caller_number": call.caller_number,
            "caller_name": call.caller_name,
            "dnis": call.dnis,
        }
        if resync:
            data["resync"] = True
        return self.emit(call, DomainEventType.CALL_STARTED, call.started_at, data)

    def resolve_abandon(
        self, call: Call, outcome: Outcome, ts: float, status: str | None = None
    ) -> DomainEvent:
        """The queue's verdict on a caller it let go unanswered (abandoned or timeout)."""
        call.abandon_pending = False
        call.queue_result = outcome
        left = call.left_at if call.left_at is not None else ts
        wait = None if call.joined_at is None else round(max(0.0, left - call.joined_at), 6)
        kind = (
            DomainEventType.QUEUE_TIMEOUT
            if outcome is Outcome.TIMEOUT
            else DomainEventType.ABANDONED
        )
        data: dict[str, Any] = {"queue": call.queue, "wait_s": wait}
        if status:
            data["queuestatus"] = status
        return self.emit(call, kind, left, data)

    # -- the end ---------------------------------------------------------------------------

    def end(self, call: Call, ts: float, note: str | None = None) -> list[DomainEvent]:
        """Finish a call: its ENDED event (preceded by ABANDONED if still open)."""
        self.calls.pop(call.linkedid, None)
        for uid in call.channels:
            self.channels.pop(uid, None)
        call.channels.clear()
        out: list[DomainEvent] = []
        if call.answered_at is None and call.joined_at is not None and call.queue_result is None:
            # Still waiting (or left without a verdict) when the last channel went.
            verdict = call.abandon_guess if call.abandon_pending else Outcome.ABANDONED
            out.append(self.resolve_abandon(call, verdict, ts))
        outcome, wait_s = outcome_of(call, ts)
        talk_s = None
        if call.answered_at is not None:
            talk_end = ts if call.talk_ended_at is None else min(ts, call.talk_ended_at)
            talk_s = max(0.0, talk_end - call.answered_at)
        summary = CallSummary(
            linkedid=call.linkedid,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            dnis=call.dnis,
            queue=call.queue,
            outcome=outcome,
            agent=call.agent,
            started_at=call.started_at,
            ended_at=ts,
            wait_s=wait_s,
            talk_s=talk_s,
            hangup_cause=call.hangup_cause,
            timeline=call.timeline,
            recordings=tuple(call.recordings),
            order_id=call.order_id,
            direction=call.direction,
            callback_agent=call.callback_agent,
            customer_dial=call.customer_dial,
            routed_queue=call.routed_queue,
            voicemail=call.voicemail or call.in_voicemail,
        )
        data: dict[str, Any] = {"summary": summary, "outcome": outcome.value}
        if note:
            data["note"] = note
        out.append(self.emit(call, DomainEventType.ENDED, ts, data))
        return out


def outcome_of(call: Call, ts: float) -> tuple[Outcome, float | None]:
    """The outcome of a call ending at ``ts`` and the wait that led to it."""
    if call.answered_at is not None:
        return Outcome.ANSWERED, call.wait_s
    if call.joined_at is None:
        return Outcome.NOT_QUEUED, None
    left = call.left_at if call.left_at is not None else ts
    wait = max(0.0, left - call.joined_at)
    if call.queue_result is not None:
        return call.queue_result, wait
    # Joined, never answered, no verdict from app_queue: the caller went away.
    return Outcome.ABANDONED, wait


def known_channel(handler: ChannelHandler) -> Handler:
    """Run ``handler`` with the event's channel; ignore events about channels we never saw.

    Only ``Newchannel`` (or a resync) makes a channel known, so an event for an
    unknown ``Uniqueid`` belongs to traffic from before we connected.
    """

    def on_event(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = calls.channel(msg, ts)
        return [] if channel is None else handler(calls, channel, msg, ts)

    return on_event
