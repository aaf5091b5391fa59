"""Calls in progress, as the API shows them, straight from the tracker's memory."""

from __future__ import annotations

from prometheus_client import Gauge

from cti.calls.schemas import CallDetailOut, CallOut
from cti.calls.service import live_detail, live_out
from cti.tracking.tracker import CallTracker


class LiveCalls:
    def __init__(self, tracker: CallTracker, gauge: Gauge | None = None) -> None:
        self._tracker = tracker
        self._gauge = gauge

    def all(self) -> list[CallOut]:
        calls = [live_out(c) for c in self._tracker.active_calls()]
        if self._gauge is not None:
            self._gauge.set(len(calls))
        return calls

    def get(self, linkedid: str) -> CallDetailOut | None:
        for call in self._tracker.active_calls():
            if call.linkedid == linkedid:
                return live_detail(call)
        return None
