"""A caller's rating becomes a stored rating through a durable job.

The survey AGI app delivers :class:`~cti.events.CallRated` on the bus and waits:
by the time the caller hears the thanks, the job is in the database or in the
local spool (database down).
"""

from __future__ import annotations

from cti.bus import EventBus
from cti.clock import Clock
from cti.csat.ratings import RATING_JOB, RatedHook, rating_handler, submit_rating
from cti.events import CallRated
from cti.jobs.runner import JobRunner
from cti.jobs.spool import JobSpool


def register(
    bus: EventBus,
    spool: JobSpool,
    runner: JobRunner,
    clock: Clock,
    on_rated: RatedHook | None = None,
) -> None:
    """``on_rated`` runs in the transaction that stores a rating (the statistics' rollups)."""

    async def rating_to_job(rated: CallRated) -> None:
        await submit_rating(spool, rated, clock)

    bus.subscribe(CallRated, rating_to_job, name="csat.rating")
    runner.register(RATING_JOB, rating_handler(on_rated))
