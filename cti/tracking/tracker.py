"""Sans-I/O call tracker: AMI events in, domain events out.

A call is keyed by its Linkedid and owns every channel carrying that Linkedid
(the caller's channel, Local channels, the agents' channels, transfer targets).
Asterisk sets a channel's Linkedid at creation (inherited from the requesting
channel) and, whenever a channel joins a bridge, copies the *oldest* Linkedid of
the bridge to every channel in it (``ast_bridge_channel_update_linkedids``).
So a transfer target dialled from the agent's phone (a new call of its own) is
moved into the caller's call as soon as it is bridged with the caller; the
tracker sees that as a changed ``Linkedid`` header on a known ``Uniqueid`` and
moves the channel. A call ends when its last channel hangs up (or moves away).

Outcome rules (from app_queue's own behaviour, which is also what queue_log
records):

* ``answered`` -- ``AgentConnect`` (agent = the member's ``Interface``), or a
  direct ``Dial()`` from the caller channel, before it ever joined a queue,
  that the callee answered (``DialEnd`` ``ANSWER``; agent = the dialled
  interface, e.g. the preferred agent ``PJSIP/1001``; queue stays None and
  ``wait_s`` is the ring time from ``DialBegin`` to the answer). A Dial after
  a queue gave up does not overturn the queue's verdict, as in queue_log.
* ``timeout`` -- the queue gave up on the caller: app_queue sets
  ``QUEUESTATUS`` to TIMEOUT (or LEAVEEMPTY/LEAVEUNAVAIL, also "left unanswered
  not by the caller") on the channel that ran ``Queue()``. app_queue emits
  ``QueueCallerAbandon`` in these cases too (``record_abandoned``), so an abandon
  event alone is not enough: it is resolved by the ``QUEUESTATUS`` that follows,
  or by a hang-up.
* ``abandoned`` -- the caller left a queue unanswered otherwise (hung up while
  waiting or while an agent rang).
* ``not_queued`` -- never joined a queue and never answered.

Caller id as Asterisk holds it (what CDR ``src``/``clid`` and queue_log show):

* AMI C-escapes ``CallerIDName`` in every channel-state block (``ast_escape_c``:
  ``O'Brien`` arrives as ``O\\'Brien``, ``\\`` as ``\\\\``); it is unescaped.
* AMI shows an *empty* caller number as ``<unknown>`` too, so a literal
  ``<unknown>`` from the trunk cannot be told from no number by the channel
  headers. Our dialplan's first step, ``NoOp(CTI hotline EXTEN from "NAME" <NUM>)``
  (a ``Newexten`` with the raw values), settles it: ``<>`` is no number,
  ``<<unknown>>`` the literal. Without that step ``<unknown>`` means no number.

``wait_s`` runs from the join of the queue entry that decided the outcome to
the answer or the leave; ``talk_s`` from the answer to the end of the call.
After a first answer, later queue entries (a transfer back into a queue) show
up in the timeline only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome

__all__ = ["CallState", "CallTracker", "LiveCall"]

log = logging.getLogger(__name__)

# Extensions that are not a dialled number.
_SPECIAL_EXTENS = frozenset(("", "s", "h", "i", "t", "T", "o", "a", "e", "fax", "failed"))
_UNKNOWN_IDS = frozenset(("", "<unknown>", "<Unknown>", "<UNKNOWN>"))
# QUEUESTATUS values meaning "the queue let the caller go unanswered".
_QUEUE_GAVE_UP = frozenset(("TIMEOUT", "LEAVEEMPTY", "LEAVEUNAVAIL"))
_DNIS_VARIABLES = frozenset(("CTI_DNIS", "__CTI_DNIS", "_CTI_DNIS"))


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


@dataclass(slots=True)
class _Channel:
    uniqueid: str
    name: str
    call: _Call


@dataclass(slots=True)
class _Call:
    linkedid: str
    started_at: float
    caller_uid: str
    caller_number: str | None = None
    caller_name: str | None = None
    dnis: str | None = None
    channels: dict[str, _Channel] = field(default_factory=dict)
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
    dial_started: dict[str, float] = field(default_factory=dict)  # dest uniqueid -> DialBegin
    hangup_cause: int | None = None
    recording_file: str | None = None


def _clean_id(value: str | None) -> str | None:
    if value is None or value in _UNKNOWN_IDS:
        return None
    return value


_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape_c(value: str) -> str:
    """Undo ``ast_escape_c`` (AMI's escaping of caller/connected names)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_C_ESCAPES.get(nxt, nxt) if nxt else ch)
        else:
            out.append(ch)
    return "".join(out)


def _clean_name(value: str | None) -> str | None:
    """``CallerIDName`` of a channel-state block: unescaped, None if unknown/empty."""
    value = _clean_id(value)
    return None if value is None else (_unescape_c(value) or None)


def _hotline_noop_number(app_data: str) -> str | None:
    """The raw caller number of ``CTI hotline EXTEN from "NAME" <NUM>``, or None if not it."""
    if not app_data.startswith("CTI hotline ") or not app_data.endswith(">"):
        return None
    _, sep, number = app_data.rpartition('" <')
    return number[:-1] if sep else None


def _interface_of(channel_name: str) -> str:
    """``PJSIP/1001-0000000a`` -> ``PJSIP/1001``; ``Local/1001@x-0000;1`` -> ``Local/1001@x``."""
    name = channel_name.split(";", 1)[0]
    base, dash, _suffix = name.rpartition("-")
    return base if dash and base else name


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _duration_s(value: str | None) -> float:
    """``CoreShowChannel`` Duration is ``HH:MM:SS``."""
    if not value:
        return 0.0
    total = 0.0
    try:
        for part in value.split(":"):
            total = total * 60 + float(part)
    except ValueError:
        return 0.0
    return total


Handler = Callable[[Mapping[str, str], float], list[DomainEvent]]


class CallTracker:
    """Feed AMI events (any ``Mapping[str, str]``) and get domain events back.

    Never raises on odd input: unknown events and events for unknown channels
    are ignored; only ``Newchannel`` (or a resync) makes a channel known.
    """

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._channels: dict[str, _Channel] = {}
        self._last_ts = 0.0
        self._raw_ts = ""
        self._parsed_raw_ts = ""
        # ENDED events of calls emptied by a Linkedid move, returned with the next output.
        self._pending_end: list[DomainEvent] = []
        self._handlers: dict[str, Handler] = {
            "Newchannel": self._on_newchannel,
            "Newexten": self._on_newexten,
            "NewCallerid": self._on_newcallerid,
            "VarSet": self._on_varset,
            "Rename": self._on_rename,
            "BridgeEnter": self._on_bridge_enter,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerLeave": self._on_queue_leave,
            "QueueCallerAbandon": self._on_queue_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_agent_ring_no_answer,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "DialBegin": self._on_dial_begin,
            "DialEnd": self._on_dial_end,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "Hold": self._on_hold,
            "Unhold": self._on_unhold,
            "MixMonitorStart": self._on_mixmonitor_start,
            "MixMonitorStop": self._on_mixmonitor_stop,
            "Hangup": self._on_hangup,
            "HangupRequest": self._on_hangup_request,
            "SoftHangupRequest": self._on_hangup_request,
        }

    # -- public API ------------------------------------------------------------

    def feed(self, msg: Mapping[str, str]) -> list[DomainEvent]:
        raw_ts = msg.get("Timestamp")
        if raw_ts:
            # Kept raw for every event (cheap), parsed only for the ones we handle.
            self._raw_ts = raw_ts
        handler = self._handlers.get(msg.get("Event") or "")
        if handler is None:
            return []
        if self._raw_ts is not self._parsed_raw_ts:
            self._parsed_raw_ts = self._raw_ts
            with contextlib.suppress(ValueError):
                self._last_ts = float(self._raw_ts)
        try:
            out = handler(msg, self._last_ts)
        except Exception:  # a tracker bug must never stop the AMI reader
            log.exception("call tracker failed on %s", msg.get("Event"))
            out = []
        if self._pending_end:
            out = [*self._pending_end, *out]
            self._pending_end.clear()
        return out

    def annotate(
        self, uniqueid: str, kind: DomainEventType, data: dict[str, Any]
    ) -> DomainEvent | None:
        """Put something we learnt outside AMI (the routing decision) on a live call's timeline.

        ``uniqueid`` is any channel of the call (the AGI gives the caller's);
        the time is the newest AMI timestamp, so the timeline stays on one clock.
        """
        channel = self._channels.get(uniqueid)
        if channel is None:
            return None
        return self._emit(channel.call, kind, self.last_timestamp, data)

    def active_calls(self) -> list[LiveCall]:
        return [self._snapshot(call) for call in self._calls.values()]

    @property
    def last_timestamp(self) -> float:
        """The newest ``Timestamp`` seen (events without one happen "then")."""
        if self._raw_ts is not self._parsed_raw_ts:
            self._parsed_raw_ts = self._raw_ts
            with contextlib.suppress(ValueError):
                self._last_ts = float(self._raw_ts)
        return self._last_ts

    def resync(
        self,
        channels: list[Mapping[str, str]],
        queue_entries: Iterable[Mapping[str, str]] = (),
        now: float | None = None,
    ) -> list[DomainEvent]:
        """Rebuild live calls from ``CoreShowChannel`` events after a (re)connect.

        Channels we did not know become calls (or join theirs); calls whose
        channels are all gone ended while we were away: they are finished with
        a note, their outcome computed from what we know. ``queue_entries``
        (``QueueEntry`` events) refine who is waiting in which queue. ``now``
        is the time of the snapshot (default: the last timestamp seen).
        """
        try:
            when = self.last_timestamp if now is None else now
            return self._resync(channels, queue_entries, when)
        except Exception:
            log.exception("call tracker resync failed")
            return []

    # -- helpers -----------------------------------------------------------------

    def _channel(self, msg: Mapping[str, str], ts: float) -> _Channel | None:
        """The known channel of an event, following a Linkedid change."""
        channel = self._channels.get(msg.get("Uniqueid") or "")
        if channel is None:
            return None
        linkedid = msg.get("Linkedid")
        if linkedid and linkedid != channel.call.linkedid:
            self._move(channel, linkedid, ts)
        return channel

    def _move(self, channel: _Channel, linkedid: str, ts: float) -> None:
        old = channel.call
        new = self._calls.get(linkedid)
        if new is None:
            new = _Call(linkedid=linkedid, started_at=ts, caller_uid=channel.uniqueid)
            self._calls[linkedid] = new
        old.channels.pop(channel.uniqueid, None)
        new.channels[channel.uniqueid] = channel
        channel.call = new
        if not old.channels:
            # Merged into an older call (bridged by a transfer): this one is over.
            self._pending_end.extend(self._end(old, ts, note=f"merged into {linkedid}"))

    def _emit(
        self, call: _Call, kind: DomainEventType, ts: float, data: dict[str, Any]
    ) -> DomainEvent:
        event = DomainEvent(kind, call.linkedid, ts, data)
        call.timeline.append(event)
        return event

    def _start(self, call: _Call) -> DomainEvent:
        return self._emit(
            call,
            DomainEventType.CALL_STARTED,
            call.started_at,
            {
                "caller_number": call.caller_number,
                "caller_name": call.caller_name,
                "dnis": call.dnis,
            },
        )

    # -- channel life ----------------------------------------------------------

    def _on_newchannel(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        uid = msg.get("Uniqueid")
        if not uid or uid in self._channels:
            return []
        linkedid = msg.get("Linkedid") or uid
        name = msg.get("Channel") or ""
        call = self._calls.get(linkedid)
        out: list[DomainEvent] = []
        if call is None:
            call = _Call(
                linkedid=linkedid,
                started_at=ts,
                caller_uid=uid,
                caller_number=_clean_id(msg.get("CallerIDNum")),
                caller_name=_clean_name(msg.get("CallerIDName")),
            )
            exten = msg.get("Exten") or ""
            if exten not in _SPECIAL_EXTENS:
                call.dnis = exten
            self._calls[linkedid] = call
            out.append(self._start(call))
        elif uid == linkedid and call.caller_uid != uid:
            # The channel that owns the Linkedid is the caller, even if a sibling
            # (e.g. the ;2 half of a Local pair) was announced first.
            call.caller_uid = uid
            call.caller_number = _clean_id(msg.get("CallerIDNum")) or call.caller_number
            call.caller_name = _clean_name(msg.get("CallerIDName")) or call.caller_name
            exten = msg.get("Exten") or ""
            if exten not in _SPECIAL_EXTENS:
                call.dnis = exten
        channel = _Channel(uid, name, call)
        call.channels[uid] = channel
        self._channels[uid] = channel
        return out

    def _on_newexten(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        uid = msg.get("Uniqueid") or ""
        channel = self._channels.get(uid)
        if channel is None:
            return []
        call = channel.call
        if uid != call.caller_uid:
            return []
        if call.dnis is None:
            exten = msg.get("Exten") or ""
            if exten not in _SPECIAL_EXTENS:
                call.dnis = exten
        if call.caller_number is None and msg.get("CallerIDNum") in _UNKNOWN_IDS:
            # "<unknown>" in AMI is also how an empty number is shown: the
            # dialplan's NoOp has the raw value (module docstring).
            raw = _hotline_noop_number(msg.get("AppData") or "")
            if raw:
                call.caller_number = raw
        return []

    def _on_newcallerid(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None or channel.uniqueid != channel.call.caller_uid:
            return []
        call = channel.call
        number = _clean_id(msg.get("CallerIDNum"))
        name = _clean_name(msg.get("CallerIDName"))
        if number is not None:
            call.caller_number = number
        if name is not None:
            call.caller_name = name
        return []

    def _on_varset(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        variable = msg.get("Variable")
        if variable == "QUEUESTATUS":
            return self._on_queuestatus(msg, ts)
        if variable == "MIXMONITOR_FILENAME":
            channel = self._channels.get(msg.get("Uniqueid") or "")
            if channel is not None:
                channel.call.recording_file = msg.get("Value") or None
            return []
        if variable in _DNIS_VARIABLES:
            channel = self._channels.get(msg.get("Uniqueid") or "")
            if channel is not None and channel.uniqueid == channel.call.caller_uid:
                value = msg.get("Value")
                if value:
                    channel.call.dnis = value
        return []

    def _on_rename(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channels.get(msg.get("Uniqueid") or "")
        if channel is not None:
            channel.name = msg.get("Newname") or msg.get("NewName") or channel.name
        return []

    def _on_bridge_enter(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        # Only for the Linkedid update that bridging performs.
        self._channel(msg, ts)
        return []

    def _on_hangup(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        uid = channel.uniqueid
        del self._channels[uid]
        call.channels.pop(uid, None)
        if uid == call.caller_uid:
            call.hangup_cause = _int(msg.get("Cause"))
        out: list[DomainEvent] = []
        if call.abandon_pending and uid == call.queue_uid:
            out.append(self._resolve_abandon(call, call.abandon_guess, ts))
        if not call.channels:
            out.extend(self._end(call, ts))
        return out

    def _on_hangup_request(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channels.get(msg.get("Uniqueid") or "")
        if channel is not None and channel.uniqueid == channel.call.queue_uid:
            channel.call.hangup_requested = True
        return []

    def _end(self, call: _Call, ts: float, note: str | None = None) -> list[DomainEvent]:
        """Finish a call: its ENDED event (preceded by ABANDONED if still open)."""
        self._calls.pop(call.linkedid, None)
        for uid in call.channels:
            self._channels.pop(uid, None)
        call.channels.clear()
        out: list[DomainEvent] = []
        if call.answered_at is None and call.joined_at is not None and call.queue_result is None:
            # Still waiting (or left without a verdict) when the last channel went.
            verdict = call.abandon_guess if call.abandon_pending else Outcome.ABANDONED
            out.append(self._resolve_abandon(call, verdict, ts))
        outcome, wait_s = self._outcome(call, ts)
        talk_s = None
        if call.answered_at is not None:
            talk_s = max(0.0, ts - call.answered_at)
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
        )
        data: dict[str, Any] = {"summary": summary, "outcome": outcome.value}
        if note:
            data["note"] = note
        event = DomainEvent(DomainEventType.ENDED, call.linkedid, ts, data)
        call.timeline.append(event)
        out.append(event)
        return out

    @staticmethod
    def _outcome(call: _Call, ts: float) -> tuple[Outcome, float | None]:
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

    # -- queue -------------------------------------------------------------------

    def _on_queue_join(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        queue = msg.get("Queue")
        position = _int(msg.get("Position"))
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
        event = self._emit(
            call,
            DomainEventType.QUEUED,
            ts,
            {"queue": queue, "position": position, "channel": channel.name},
        )
        return [event]

    def _on_queue_abandon(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        if call.answered_at is None and call.joined_at is not None:
            call.abandon_pending = True
            call.abandon_guess = Outcome.ABANDONED if call.hangup_requested else Outcome.TIMEOUT
            call.in_queue = False
            call.left_at = ts
            call.state = CallState.LEFT_QUEUE
        return []

    def _on_queue_leave(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        if call.answered_at is None and call.in_queue:
            call.in_queue = False
            if call.left_at is None:
                call.left_at = ts
            call.state = CallState.LEFT_QUEUE
        return []

    def _on_queuestatus(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        out: list[DomainEvent] = []
        status = msg.get("Value") or ""
        if call.answered_at is None and call.joined_at is not None and call.queue_result is None:
            if call.left_at is None:
                call.left_at = ts
            call.in_queue = False
            if status in _QUEUE_GAVE_UP:
                out.append(self._resolve_abandon(call, Outcome.TIMEOUT, ts, status))
            elif call.abandon_pending:
                out.append(self._resolve_abandon(call, Outcome.ABANDONED, ts, status))
        return out

    def _resolve_abandon(
        self, call: _Call, outcome: Outcome, ts: float, status: str | None = None
    ) -> DomainEvent:
        call.abandon_pending = False
        call.queue_result = outcome
        left = call.left_at if call.left_at is not None else ts
        wait = None if call.joined_at is None else round(max(0.0, left - call.joined_at), 6)
        kind = (
            DomainEventType.QUEUE_TIMEOUT
            if outcome is Outcome.TIMEOUT
            else (DomainEventType.ABANDONED)
        )
        data: dict[str, Any] = {"queue": call.queue, "wait_s": wait}
        if status:
            data["queuestatus"] = status
        return self._emit(call, kind, left, data)

    def _on_agent_called(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        dest_uid = msg.get("DestUniqueid")
        if dest_uid:
            call.agent_channels.add(dest_uid)
        if call.answered_at is None:
            call.state = CallState.AGENT_RINGING
        event = self._emit(
            call,
            DomainEventType.AGENT_RINGING,
            ts,
            {
                "queue": msg.get("Queue"),
                "interface": msg.get("Interface"),
                "member_name": msg.get("MemberName"),
                "agent_channel": msg.get("DestChannel"),
            },
        )
        return [event]

    def _on_agent_ring_no_answer(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        ring_ms = _int(msg.get("RingTime"))
        if call.answered_at is None and call.in_queue:
            call.state = CallState.QUEUED
        event = self._emit(
            call,
            DomainEventType.AGENT_RING_NO_ANSWER,
            ts,
            {
                "queue": msg.get("Queue"),
                "interface": msg.get("Interface"),
                "member_name": msg.get("MemberName"),
                "ring_s": None if ring_ms is None else ring_ms / 1000.0,
            },
        )
        return [event]

    def _on_agent_connect(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        interface = msg.get("Interface") or msg.get("MemberName") or None
        queue = msg.get("Queue")
        if call.answered_at is not None:
            # Answered again after a transfer back into a queue: timeline only.
            event = self._emit(
                call,
                DomainEventType.ANSWERED,
                ts,
                {
                    "queue": queue,
                    "agent": interface,
                    "member_name": msg.get("MemberName"),
                    "again": True,
                },
            )
            return [event]
        call.answered_at = ts
        call.agent = interface
        call.queue = queue or call.queue
        call.in_queue = False
        call.abandon_pending = False
        call.state = CallState.ANSWERED
        if call.joined_at is not None:
            call.wait_s = max(0.0, ts - call.joined_at)
        else:
            hold = _int(msg.get("HoldTime"))
            call.wait_s = None if hold is None else float(hold)
        event = self._emit(
            call,
            DomainEventType.ANSWERED,
            ts,
            {
                "queue": call.queue,
                "agent": interface,
                "member_name": msg.get("MemberName"),
                "agent_channel": msg.get("DestChannel"),
                "wait_s": call.wait_s,
            },
        )
        return [event]

    def _on_agent_complete(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        # Linkedid bookkeeping only; the call ends with its channels.
        self._channel(msg, ts)
        return []

    # -- direct dial (preferred agent) ---------------------------------------------

    def _on_dial_begin(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        dest_uid = msg.get("DestUniqueid")
        # Only a Dial from the caller before any queue (the preferred agent) can
        # answer the call outside a queue; after a queue gave up, queue_log's
        # verdict (timeout/abandoned) stands.
        if (
            dest_uid
            and call.answered_at is None
            and call.joined_at is None
            and channel.uniqueid == call.caller_uid
        ):
            call.dial_started[dest_uid] = ts
            # The preferred agent's phone rings outside any queue (no AgentCalled):
            # it is still an agent ringing, and their desktop must pop.
            dest_name = msg.get("DestChannel") or ""
            call.state = CallState.AGENT_RINGING
            return [
                self._emit(
                    call,
                    DomainEventType.AGENT_RINGING,
                    ts,
                    {
                        "queue": None,
                        "interface": _interface_of(dest_name) if dest_name else None,
                        "member_name": None,
                        "agent_channel": dest_name,
                        "direct": True,
                    },
                )
            ]
        return []

    def _on_dial_end(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        dest_uid = msg.get("DestUniqueid") or ""
        started = call.dial_started.pop(dest_uid, None)
        dest_name = msg.get("DestChannel") or ""
        if started is not None and msg.get("DialStatus") != "ANSWER":
            if call.answered_at is None and not call.in_queue:
                call.state = CallState.STARTED
            return [
                self._emit(
                    call,
                    DomainEventType.AGENT_RING_NO_ANSWER,
                    ts,
                    {
                        "queue": None,
                        "interface": _interface_of(dest_name) if dest_name else None,
                        "member_name": None,
                        "ring_s": max(0.0, ts - started),
                        "dial_status": msg.get("DialStatus"),
                        "direct": True,
                    },
                )
            ]
        if (
            started is None
            or msg.get("DialStatus") != "ANSWER"
            or call.answered_at is not None
            or call.in_queue
            or dest_uid in call.agent_channels
        ):
            return []
        call.answered_at = ts
        call.agent = _interface_of(dest_name) if dest_name else None
        call.wait_s = max(0.0, ts - started)
        call.state = CallState.ANSWERED
        event = self._emit(
            call,
            DomainEventType.ANSWERED,
            ts,
            {
                "queue": None,
                "agent": call.agent,
                "agent_channel": dest_name,
                "direct": True,
                "wait_s": call.wait_s,
            },
        )
        return [event]

    # -- transfers, hold, recording ------------------------------------------------

    def _call_of(self, msg: Mapping[str, str], *prefixes: str) -> _Call | None:
        for prefix in prefixes:
            channel = self._channels.get(msg.get(prefix + "Uniqueid") or "")
            if channel is not None:
                return channel.call
        for prefix in prefixes:
            call = self._calls.get(msg.get(prefix + "Linkedid") or "")
            if call is not None:
                return call
        return None

    def _on_blind_transfer(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        call = self._call_of(msg, "Transferee", "Transferer")
        if call is None:
            return []
        event = self._emit(
            call,
            DomainEventType.TRANSFERRED,
            ts,
            {
                "kind": "blind",
                "result": msg.get("Result"),
                "transferer": msg.get("TransfererChannel"),
                "transferee": msg.get("TransfereeChannel"),
                "context": msg.get("Context"),
                "exten": msg.get("Extension"),
            },
        )
        return [event]

    def _on_attended_transfer(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        call = self._call_of(
            msg, "Transferee", "OrigTransferer", "SecondTransferer", "TransferTarget"
        )
        if call is None:
            return []
        event = self._emit(
            call,
            DomainEventType.TRANSFERRED,
            ts,
            {
                "kind": "attended",
                "result": msg.get("Result"),
                "transferer": msg.get("OrigTransfererChannel"),
                "transferee": msg.get("TransfereeChannel"),
                "target": msg.get("TransferTargetChannel") or msg.get("SecondTransfererChannel"),
                "dest_type": msg.get("DestType"),
            },
        )
        return [event]

    def _on_hold(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        if call.state == CallState.ANSWERED:
            call.state = CallState.ON_HOLD
        event = self._emit(call, DomainEventType.HOLD, ts, {"channel": channel.name})
        return [event]

    def _on_unhold(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        if call.state == CallState.ON_HOLD:
            call.state = CallState.ANSWERED
        event = self._emit(call, DomainEventType.UNHOLD, ts, {"channel": channel.name})
        return [event]

    def _on_mixmonitor_start(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        event = self._emit(
            call,
            DomainEventType.RECORDING_STARTED,
            ts,
            {"channel": channel.name, "file": call.recording_file},
        )
        return [event]

    def _on_mixmonitor_stop(self, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        channel = self._channel(msg, ts)
        if channel is None:
            return []
        call = channel.call
        event = self._emit(
            call,
            DomainEventType.RECORDING_STOPPED,
            ts,
            {"channel": channel.name, "file": call.recording_file},
        )
        return [event]

    # -- snapshots and resync ------------------------------------------------------

    @staticmethod
    def _snapshot(call: _Call) -> LiveCall:
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
        )

    def _resync(
        self,
        channels: list[Mapping[str, str]],
        queue_entries: Iterable[Mapping[str, str]],
        now: float,
    ) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        live: dict[str, Mapping[str, str]] = {}
        for info in channels:
            if info.get("Uniqueid"):
                live[info["Uniqueid"]] = info
        # 1. channels we knew that are gone: we missed their Hangup
        for uid in [uid for uid in self._channels if uid not in live]:
            channel = self._channels.pop(uid)
            channel.call.channels.pop(uid, None)
        for call in [c for c in self._calls.values() if not c.channels]:
            out.extend(self._end(call, now, note="hangup missed while disconnected (resync)"))
        # 2. channels we did not know (oldest first, so the caller comes first)
        ordered = sorted(live.values(), key=lambda c: -_duration_s(c.get("Duration")))
        for info in ordered:
            self._resync_channel(info, now, out)
        # 3. answered calls: a bridged non-caller channel means someone answered
        for call in self._calls.values():
            if call.answered_at is None:
                self._resync_answer(call, live, now)
        # 4. queue entries tell how long each caller has waited
        for entry in queue_entries:
            self._resync_queue_entry(entry, now)
        if self._pending_end:
            out = [*self._pending_end, *out]
            self._pending_end.clear()
        return out

    def _resync_channel(self, info: Mapping[str, str], now: float, out: list[DomainEvent]) -> None:
        uid = info.get("Uniqueid") or ""
        linkedid = info.get("Linkedid") or uid
        known = self._channels.get(uid)
        if known is not None:
            if known.call.linkedid != linkedid:
                self._move(known, linkedid, now)
            return
        call = self._calls.get(linkedid)
        if call is None:
            started = now - _duration_s(info.get("Duration"))
            call = _Call(
                linkedid=linkedid,
                started_at=started,
                caller_uid=uid,
                caller_number=_clean_id(info.get("CallerIDNum")),
                caller_name=_clean_name(info.get("CallerIDName")),
            )
            exten = info.get("Exten") or ""
            if exten not in _SPECIAL_EXTENS:
                call.dnis = exten
            self._calls[linkedid] = call
            event = DomainEvent(
                DomainEventType.CALL_STARTED,
                linkedid,
                started,
                {
                    "caller_number": call.caller_number,
                    "caller_name": call.caller_name,
                    "dnis": call.dnis,
                    "resync": True,
                },
            )
            call.timeline.append(event)
            out.append(event)
        channel = _Channel(uid, info.get("Channel") or "", call)
        call.channels[uid] = channel
        self._channels[uid] = channel
        if info.get("Application") == "Queue" and call.answered_at is None and not call.in_queue:
            call.queue = (info.get("ApplicationData") or "").split(",", 1)[0] or None
            call.in_queue = True
            call.queue_uid = uid
            if call.joined_at is None:
                # Upper bound (includes the IVR); a QueueEntry's Wait refines it.
                call.joined_at = now - _duration_s(info.get("Duration"))
            call.state = CallState.QUEUED

    @staticmethod
    def _resync_answer(call: _Call, live: Mapping[str, Mapping[str, str]], now: float) -> None:
        for uid, channel in call.channels.items():
            info = live.get(uid)
            if (
                uid != call.caller_uid
                and info is not None
                and info.get("BridgeId")
                and info.get("ChannelState") == "6"
            ):
                call.answered_at = now - _duration_s(info.get("Duration"))
                call.agent = _interface_of(channel.name)
                call.in_queue = False
                call.state = CallState.ANSWERED
                call.wait_s = None  # the queue join happened while we were away
                return

    def _resync_queue_entry(self, entry: Mapping[str, str], now: float) -> None:
        channel = self._channels.get(entry.get("Uniqueid") or "")
        if channel is None or channel.call.answered_at is not None:
            return
        call = channel.call
        wait = _int(entry.get("Wait"))
        call.queue = entry.get("Queue") or call.queue
        call.in_queue = True
        call.queue_uid = channel.uniqueid
        call.state = CallState.QUEUED
        if wait is not None:
            call.joined_at = now - wait
