"""What the queue figures need of a finished call, read off the tracker's summary.

Pure. :func:`stats_facts` is how a call record gets its statistics columns
(``offered_at``, ``answered_at``, ``transfers``, ``voicemail``, and the queue of a
preferred-agent call), for live calls (:mod:`cti.calls.writer`) and replayed traces
alike, so both are counted by the same rules.

- **Offered** at queue_log's ENTERQUEUE: the last QUEUED event before the call was
  answered (a caller transferred back into a queue after the answer is not offered
  again; a caller who left one queue for another counts in the last one), or any
  QUEUED event of a call never answered.
- **The preferred agent.** The hotline dialplan rings the caller's last agent with
  ``Dial()`` before ``Queue()``: app_queue never sees that call, so queue_log has no
  ENTERQUEUE for it. Such a call was still offered to the hotline, at its first direct
  ring, in the queue the routing named (the ROUTED event, or the dialplan's
  ``CTI_QUEUE``). If the preferred agent does not answer and the call goes on into the
  queue, the ENTERQUEUE time wins (as queue_log says).
- **Not queue traffic**: outbound calls (confirmations, callbacks, click-to-call) and
  calls that never reached a queue or a preferred agent (hung up in the IVR, agents'
  internal calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from cti.tracking.events import CallSummary, DomainEvent, DomainEventType

__all__ = ["StatsFacts", "stats_facts"]


@dataclass(frozen=True, slots=True)
class StatsFacts:
    queue: str | None
    offered_at: float | None
    answered_at: float | None
    wait_s: float | None
    transfers: int
    voicemail: bool
    answered_in_queue: bool = False
    """Answered through app_queue (which then holds the agent in wrap-up), not directly."""


def stats_facts(summary: CallSummary) -> StatsFacts:
    timeline = summary.timeline
    answered = next(
        (e for e in timeline if e.type is DomainEventType.ANSWERED and not e.data.get("again")),
        None,
    )
    answered_at = None if answered is None else answered.timestamp
    transfers = sum(1 for e in timeline if e.type is DomainEventType.TRANSFERRED)
    queue = summary.queue
    wait_s = summary.wait_s
    offered_at: float | None = None
    if summary.direction == "inbound":
        queued = [
            e
            for e in timeline
            if e.type is DomainEventType.QUEUED
            and (answered_at is None or e.timestamp <= answered_at)
        ]
        direct = _first_direct_ring(timeline)
        routed = _routed_queue(timeline) or summary.routed_queue
        if queued:
            offered_at = queued[-1].timestamp
        elif direct is not None and routed is not None:
            offered_at = direct.timestamp
            queue = queue or routed
            if wait_s is None:
                # A caller gone while the preferred agent's phone rang waited that long.
                wait_s = max(0.0, summary.ended_at - offered_at)
        if summary.voicemail and queue is None:
            queue = routed
    return StatsFacts(
        queue=queue,
        offered_at=offered_at,
        answered_at=answered_at,
        wait_s=wait_s,
        transfers=transfers,
        voicemail=summary.voicemail,
        answered_in_queue=answered is not None and not answered.data.get("direct"),
    )


def _first_direct_ring(timeline: list[DomainEvent]) -> DomainEvent | None:
    return next(
        (
            e
            for e in timeline
            if e.type is DomainEventType.AGENT_RINGING
            and e.data.get("direct")
            and not e.data.get("callback")
        ),
        None,
    )


def _routed_queue(timeline: list[DomainEvent]) -> str | None:
    for e in reversed(timeline):
        if e.type is DomainEventType.ROUTED and isinstance(e.data.get("queue"), str):
            return str(e.data["queue"])
    return None
