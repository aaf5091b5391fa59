"""Calls in progress, as the API shows them, straight from the tracker's memory."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Gauge

from cti.calls.schemas import CallDetailOut, CallOut
from cti.calls.service import live_detail, live_out, summary_agents
from cti.calls.writer import CallRecordWriter
from cti.tracking.events import DomainEvent
from cti.tracking.tracker import CallTracker


class LiveCalls:
    def __init__(
        self,
        tracker: CallTracker,
        gauge: Gauge | None = None,
        writer: CallRecordWriter | None = None,
    ) -> None:
        self._tracker = tracker
        if gauge is not None:
            # Read at every scrape, not only when someone lists the calls.
            gauge.set_function(lambda: len(tracker.active_calls()))
        self._writer = writer

    def agents_of(self, linkedid: str) -> frozenset[str] | None:
        """Extensions of the agents who took a call still in memory: in progress, or
        ended and not yet written (the agent saves its note right after hanging up).
        None when the call is in neither place (look in the call records)."""
        for call in self._tracker.active_calls():
            if call.linkedid == linkedid:
                return summary_agents(call.agent, call.timeline)
        ended = self._writer.pending_call(linkedid) if self._writer is not None else None
        if ended is not None:
            return summary_agents(ended.agent, ended.timeline)
        return None

    def taken_by(self, extension: str) -> frozenset[str]:
        """Linkedids of the calls in memory (as :meth:`agents_of`) the agent took."""
        return frozenset(
            linkedid
            for linkedid, agent, timeline in self._in_memory()
            if extension in summary_agents(agent, timeline)
        )

    def timelines(self) -> list[tuple[str, Sequence[DomainEvent]]]:
        """Each call in memory (as :meth:`agents_of`) with its timeline so far."""
        return [(linkedid, timeline) for linkedid, _, timeline in self._in_memory()]

    def _in_memory(self) -> list[tuple[str, str | None, Sequence[DomainEvent]]]:
        calls: list[tuple[str, str | None, Sequence[DomainEvent]]] = [
            (c.linkedid, c.agent, c.timeline) for c in self._tracker.active_calls()
        ]
        if self._writer is not None:
            calls += [(s.linkedid, s.agent, s.timeline) for s in self._writer.unwritten()]
        return calls

    def all(self) -> list[CallOut]:
        return [live_out(c) for c in self._tracker.active_calls()]

    def get(self, linkedid: str) -> CallDetailOut | None:
        for call in self._tracker.active_calls():
            if call.linkedid == linkedid:
                return live_detail(call)
        return None
