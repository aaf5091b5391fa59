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
  ``O'Brien`` arrives as ``O\\'Brien``, ``\\`` as ``\\\\``); it is unescaped
  (:func:`cti.tracking.values.clean_name`).
* AMI shows an *empty* caller number as ``<unknown>`` too, so a literal
  ``<unknown>`` from the trunk cannot be told from no number by the channel
  headers. Our dialplan's first step, ``NoOp(CTI hotline EXTEN from "NAME" <NUM>)``
  (a ``Newexten`` with the raw values), settles it: ``<>`` is no number,
  ``<<unknown>>`` the literal. Without that step ``<unknown>`` means no number.

``wait_s`` runs from the join of the queue entry that decided the outcome to
the answer or the leave; ``talk_s`` from the answer to the end of the call, or to
``CTI_TALK_ENDED`` when the caller stays on after the agent hung up (the survey).
After a first answer, later queue entries (a transfer back into a queue) show
up in the timeline only.

The parts: :mod:`~cti.tracking.values` parses header values,
:mod:`~cti.tracking.model` holds the call records, :mod:`~cti.tracking.state`
the tables and the moves shared by all handlers, :mod:`~cti.tracking.dispatch`
maps each AMI event to its handler (``on_channel``, ``on_queue``, ``on_dial``,
``on_features``), and :mod:`~cti.tracking.resync` rebuilds calls from a
snapshot. This module is the facade the service uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cti.tracking import dispatch, values
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.model import CallFacts, CallState, LiveCall, WaitingCaller, facts, snapshot
from cti.tracking.resync import resync as resync_calls
from cti.tracking.state import Calls

__all__ = ["CallFacts", "CallState", "CallTracker", "LiveCall", "WaitingCaller"]

_HANDLERS = dispatch.HANDLERS
_VARIABLES = dispatch.VARIABLES


class CallTracker:
    """Feed AMI events (any ``Mapping[str, str]``) and get domain events back.

    Odd input is not an error: unknown events and events for unknown channels
    are ignored; only ``Newchannel`` (or a resync) makes a channel known.

    A handler that fails raises out of :meth:`feed` (and :meth:`resync`): the
    tracker does not catch its own bugs. The adapter that feeds it -- the
    composition root's AMI event handler -- isolates the exception from the
    AMI reader, logs and counts it, and goes on with the next event; the
    tracker stays usable (the failed event's changes may be partial).
    """

    def __init__(self) -> None:
        self._calls = Calls()
        self._last_ts = 0.0
        self._raw_ts = ""
        self._parsed_raw_ts = ""

    # -- public API ------------------------------------------------------------

    def feed(self, msg: Mapping[str, str]) -> list[DomainEvent]:
        raw_ts = msg.get("Timestamp")
        if raw_ts:
            # Kept raw for every event (cheap), parsed only for the ones we handle.
            self._raw_ts = raw_ts
        # Runs for every AMI event: VarSet (most of them) goes by its variable.
        name = msg.get("Event")
        if name == "VarSet":
            handler = _VARIABLES.get(msg.get("Variable") or "")
        else:
            handler = _HANDLERS.get(name or "")
        if handler is None:
            return []
        calls = self._calls
        out = handler(calls, msg, self.last_timestamp)
        return calls.take_pending(out) if calls.pending_end else out

    def annotate(
        self, uniqueid: str, kind: DomainEventType, data: dict[str, Any], at: float | None = None
    ) -> DomainEvent | None:
        """Put something we learnt outside AMI (the routing decision) on a live call's timeline.

        ``uniqueid`` is any channel of the call (the AGI gives the caller's);
        the time is ``at`` (on Asterisk's clock) or else the newest AMI timestamp, so the
        timeline stays on one clock.
        """
        channel = self._calls.channels.get(uniqueid)
        if channel is None:
            return None
        ts = self.last_timestamp if at is None else max(at, self.last_timestamp)
        return self._calls.emit(channel.call, kind, ts, data)

    def active_calls(self) -> list[LiveCall]:
        return [snapshot(call) for call in self._calls.calls.values()]

    def live_call(self, linkedid: str) -> LiveCall | None:
        call = self._calls.calls.get(linkedid)
        return None if call is None else snapshot(call)

    def waiting_callers(self) -> list[WaitingCaller]:
        """Callers in a queue right now (joined, not answered, not gone), oldest first.

        Cheap (no timeline copies): a wallboard asks after every event.
        """
        waiting = [
            WaitingCaller(call.linkedid, call.queue, call.joined_at)
            for call in self._calls.calls.values()
            if call.in_queue and call.queue and call.joined_at is not None
        ]
        return sorted(waiting, key=lambda w: w.joined_at)

    def on_a_call(self, interface: str) -> bool:
        """Whether a channel of ``interface`` (``PJSIP/1001``) is up in any live call:
        the phone rings or talks, in a queue call or not."""
        return any(
            values.interface_of(ch.name) == interface for ch in self._calls.channels.values()
        )

    def call_facts(self, linkedid: str) -> CallFacts | None:
        """What a screen-pop needs of a live call, without copying its channels and timeline."""
        call = self._calls.calls.get(linkedid)
        return None if call is None else facts(call)

    @property
    def last_timestamp(self) -> float:
        """The newest ``Timestamp`` seen (events without one happen "then")."""
        if self._raw_ts is not self._parsed_raw_ts:
            self._parsed_raw_ts = self._raw_ts
            parsed = values.timestamp(self._raw_ts)
            if parsed is not None:
                self._last_ts = parsed
        return self._last_ts

    def resync(
        self,
        channels: Iterable[Mapping[str, str]],
        queue_entries: Iterable[Mapping[str, str]] = (),
        now: float | None = None,
        recordings: Mapping[str, str] | None = None,
    ) -> list[DomainEvent]:
        """Rebuild live calls from ``CoreShowChannel`` events after a (re)connect.

        Channels we did not know become calls (or join theirs); calls whose
        channels are all gone ended while we were away: they are finished with
        a note, their outcome computed from what we know. ``queue_entries``
        (``QueueEntry`` events) refine who is waiting in which queue.
        ``recordings`` (Uniqueid -> ``MIXMONITOR_FILENAME``) adds the recordings
        that began unseen. ``now`` is the time of the snapshot (default: the last
        timestamp seen). Raises like :meth:`feed`.
        """
        when = self.last_timestamp if now is None else now
        return resync_calls(self._calls, channels, queue_entries, when, recordings)
