"""Every recording of a finished call becomes a catalog job; the recording jobs' handlers.

On the tracker's ENDED event, one ``recordings.catalog`` job per file of the
call's recordings, due once Asterisk has closed it. The job is in the database
or the local spool before this returns, so neither a restart nor a database
outage loses a recording's facts (the timeline is gone once the call is).
"""

from __future__ import annotations

from collections.abc import Awaitable

from cti.bus import EventBus
from cti.calls.service import get_call
from cti.clock import Clock
from cti.customers.phones import PhoneNormalizer
from cti.jobs.runner import JobRunner
from cti.jobs.spool import JobSpool
from cti.recordings.catalog import (
    CATALOG_JOB,
    CatalogPayload,
    PausedSpan,
    catalog_handler,
    submit_catalog,
)
from cti.recordings.context import RecordingContext
from cti.recordings.ids import recording_id
from cti.recordings.left_behind import LEFT_BEHIND_JOB, left_behind_handler
from cti.recordings.metrics import RecordingMetrics
from cti.recordings.retention import RETENTION_JOB, retention_handler
from cti.recordings.segments import TimelineEvent, segments
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType


def caller_key(phones: PhoneNormalizer, raw: str | None) -> str | None:
    """The caller as the catalog keeps it: E.164 when it parses, else as Asterisk gave it."""
    return phones.e164(raw) or raw or None


def catalog_payloads(
    summary: CallSummary, key: bytes, phones: PhoneNormalizer
) -> list[CatalogPayload]:
    """One payload per recording of the call, segment = position in order of start."""
    timeline = [TimelineEvent(e.type.value, e.timestamp, e.data) for e in summary.timeline]
    caller = caller_key(phones, summary.caller_number)
    return [
        CatalogPayload(
            public_id=recording_id(key, summary.linkedid, seg.segment),
            linkedid=summary.linkedid,
            segment=seg.segment,
            file=seg.file,
            uniqueid=seg.uniqueid,
            channel=seg.channel,
            caller_number=caller,
            agent=seg.agent,
            queue=summary.queue,
            direction="outbound" if summary.direction == "outbound" else "inbound",
            order_id=summary.order_id,
            started_at=seg.started_at,
            ended_at=summary.ended_at,
            paused_spans=[PausedSpan(**span) for span in seg.paused_spans],
        )
        for seg in segments(
            summary.recordings,
            timeline,
            call_started=summary.started_at,
            call_ended=summary.ended_at,
        )
    ]


def register(
    bus: EventBus,
    runner: JobRunner,
    spool: JobSpool,
    ctx: RecordingContext,
    phones: PhoneNormalizer,
    clock: Clock,
    *,
    metrics: RecordingMetrics | None = None,
) -> None:
    settle_s = ctx.settings.settle_s

    async def submit_all(summary: CallSummary) -> None:
        for payload in catalog_payloads(summary, ctx.key, phones):
            await submit_catalog(spool, payload, settle_s=settle_s)

    def catalog_recordings(event: DomainEvent) -> Awaitable[None] | None:
        # Every domain event passes here: only a finished call with recordings costs a task.
        if event.type is not DomainEventType.ENDED:
            return None
        summary = event.data.get("summary")
        if not isinstance(summary, CallSummary) or not summary.recordings:
            return None
        return submit_all(summary)

    bus.subscribe(DomainEvent, catalog_recordings, name="recordings.catalog")
    runner.register(CATALOG_JOB, catalog_handler(ctx, clock, metrics))
    runner.register(RETENTION_JOB, retention_handler(ctx, clock, metrics))
    runner.register(
        LEFT_BEHIND_JOB,
        left_behind_handler(ctx, clock, lookup=get_call, phones=phones, metrics=metrics),
    )
