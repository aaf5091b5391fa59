"""Calls in progress, as the API shows them, straight from the tracker's memory."""

from __future__ import annotations

from prometheus_client import Gauge

from cti.calls.schemas import CallDetailOut, CallOut
from cti.calls.service import live_detail, live_out
from cti.tracking.tracker import CallTracker


class LiveCalls:
    def __init__(self, tracker: CallTracker, gauge: Gauge | None = None) -> None:
        self._tracker = tracker
        if gauge is not None:
            # Read at every scrape, not only when someone lists the calls.
            gauge.set_function(lambda: len(tracker.active_calls()))

    def all(self) -> list[CallOut]:
        return [live_out(c) for c in self._tracker.active_calls()]

    def get(self, linkedid: str) -> CallDetailOut | None:
        for call in self._tracker.active_calls():
            if call.linkedid == linkedid:
                return live_detail(call)
        return None
