"""Click-to-call hears the tracker: the end of a call an agent placed settles it.

Also registers the result job's handler with the runner.
"""

from __future__ import annotations

from collections.abc import Awaitable

from cti.bus import EventBus
from cti.clicktocall.config import ClickToCallSettings
from cti.clicktocall.results import RESULT_JOB, result_handler, submit_end
from cti.clock import Clock
from cti.jobs.runner import JobRunner
from cti.jobs.spool import JobSpool
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType


def register(
    bus: EventBus,
    spool: JobSpool,
    runner: JobRunner,
    settings: ClickToCallSettings,
    clock: Clock,
) -> None:
    async def call_ended(summary: CallSummary) -> None:
        await submit_end(spool, summary, clock.now())

    def agent_call_ended(event: DomainEvent) -> Awaitable[None] | None:
        # Only calls placed from an agent's desktop cost a job.
        if event.type is not DomainEventType.ENDED:
            return None
        summary = event.data.get("summary")
        if not isinstance(summary, CallSummary) or summary.callback_agent is None:
            return None
        return call_ended(summary)

    bus.subscribe(DomainEvent, agent_call_ended, name="clicktocall.call_ended")
    runner.register(RESULT_JOB, result_handler(settings, clock))
