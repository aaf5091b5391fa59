"""The calls domain's subscribers: every finished call is written as a call record."""

from __future__ import annotations

from cti.bus import EventBus
from cti.calls.writer import CallRecordWriter
from cti.metrics import Metrics
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType


def register(bus: EventBus, writer: CallRecordWriter, metrics: Metrics) -> None:
    # Read at every scrape: the queue also shrinks when the writer drains it.
    metrics.records_pending.set_function(lambda: writer.pending)

    def record_finished_call(event: DomainEvent) -> None:
        if event.type is DomainEventType.ENDED:
            summary = event.data.get("summary")
            if isinstance(summary, CallSummary):
                writer.submit(summary)
                metrics.calls_finished.labels(
                    summary.outcome.value, summary.queue or "", summary.direction
                ).inc()

    bus.subscribe(DomainEvent, record_finished_call, name="calls.record_writer")
