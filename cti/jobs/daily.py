"""Daily jobs: one run a day, whoever submits it (at start, an hourly ticker).

The job's key names the day, so every submission of the same day after the first
finds the job already there (:attr:`Submitted.created` False).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pydantic import BaseModel

from cti.clock import Clock
from cti.jobs.spool import JobSpool, Submitted


async def submit_daily(
    spool: JobSpool,
    clock: Clock,
    kind: str,
    *,
    payload: type[BaseModel],
    key: Callable[[date], str],
    delay_s: float = 0.0,
) -> Submitted:
    """Submit today's job of ``kind``: ``payload(day=today)`` (a model whose other fields
    have defaults) under the key ``key(today)``.

    ``delay_s`` makes it due later (at start: the backlog of other jobs first).
    """
    now = clock.now()
    return await spool.submit(
        kind,
        payload(day=now.date()).model_dump(mode="json"),
        key(now.date()),
        run_after=now + timedelta(seconds=delay_s) if delay_s else None,
    )
