"""Calls in progress, as the API shows them, straight from the tracker's memory."""

from __future__ import annotations

from prometheus_client import Gauge

from cti.calls.schemas import CallDetailOut, CallOut
from cti.calls.service import live_detail, live_out, summary_agents
from cti.calls.writer import CallRecordWriter
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

    def all(self) -> list[CallOut]:
        return [live_out(c) for c in self._tracker.active_calls()]

    def get(self, linkedid: str) -> CallDetailOut | None:
        for call in self._tracker.active_calls():
            if call.linkedid == linkedid:
                return live_detail(call)
        return None
