"""Confirmation calls hear the tracker: an attempt's call that ends settles the attempt.

Also registers the dialling job's handler and the daily job that forgets old
``Idempotency-Key`` s with the runner.
"""

from __future__ import annotations

from collections.abc import Awaitable

from cti.bus import EventBus
from cti.clock import Clock
from cti.confirmations.dialler import DIAL_JOB, Dialler
from cti.confirmations.keys import FORGET_KEYS_JOB, forget_keys_handler
from cti.jobs.runner import JobRunner
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType


def register(bus: EventBus, runner: JobRunner, dialler: Dialler, clock: Clock) -> None:
    def attempt_ended(event: DomainEvent) -> Awaitable[None] | None:
        # Only the end of a call we placed (its Linkedid is our ChannelId) costs a task.
        if event.type is not DomainEventType.ENDED:
            return None
        summary = event.data.get("summary")
        if not isinstance(summary, CallSummary) or summary.direction != "outbound":
            return None
        dialler.saw_end(event.linkedid, summary.hangup_cause)
        return dialler.on_call_ended(
            event.linkedid, summary.talk_s is not None, summary.hangup_cause
        )

    bus.subscribe(DomainEvent, attempt_ended, name="confirmations.attempt_ended")
    runner.register(DIAL_JOB, dialler.handle)
    runner.register(FORGET_KEYS_JOB, forget_keys_handler(dialler.settings, clock))
