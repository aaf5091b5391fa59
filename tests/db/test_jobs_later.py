"""Jobs that are due later: "not yet" from a handler, and ``run_after`` through the spool."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import FixedClock
from cti.jobs.errors import RetryLater
from cti.jobs.models import Job, JobStatus
from cti.jobs.runner import JobRunner
from cti.jobs.service import Backoff, enqueue, get_job
from cti.jobs.spool import JobSpool

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def fetch(sessions: async_sessionmaker[AsyncSession], job_id: int) -> Job:
    async with sessions() as session:
        job = await get_job(session, job_id=job_id)
    assert job is not None
    return job


async def test_not_yet_puts_the_job_back_without_spending_an_attempt(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    ready = False
    effects: list[str] = []

    async def when_ready(session: AsyncSession, payload: dict[str, Any]) -> None:
        effects.append("tried")
        if not ready:
            raise RetryLater("file still being written", 5)

    runner = JobRunner(
        sessions, clock=clock, handlers={"test.later": when_ready}, backoff=Backoff(base_s=600)
    )
    async with sessions() as session, session.begin():
        job, _ = await enqueue(
            session, kind="test.later", key="later-1", payload={}, now=T0, max_attempts=2
        )
    # Far more "not yet" answers than attempts: the job never goes dead for waiting.
    for _ in range(6):
        assert await runner.run_once() == 1
        waiting = await fetch(sessions, job.id)
        assert waiting.status == JobStatus.QUEUED.value and waiting.attempts == 0
        assert waiting.run_after == clock.now() + timedelta(seconds=5)  # soon, not the backoff
        assert waiting.last_error == "not yet: file still being written"
        assert await runner.run_once() == 0  # not due before then
        clock.advance(5)
    ready = True
    assert await runner.run_once() == 1
    done = await fetch(sessions, job.id)
    assert done.status == JobStatus.DONE.value and done.attempts == 1
    assert len(effects) == 7


async def test_a_job_due_later_keeps_its_time_through_the_spool(
    sessions: async_sessionmaker[AsyncSession],
    down: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    clock = FixedClock(T0)
    due = T0 + timedelta(seconds=2)
    offline = JobSpool(tmp_path / "spool", down, clock=clock, db_timeout=1.0)
    kept = await offline.submit("test.later", {"n": 1}, "later-spooled", run_after=due)
    assert kept.spooled is not None

    # The database answers again: the job reaches the table due when it was meant to be.
    online = JobSpool(tmp_path / "spool", sessions, clock=clock)
    runner = JobRunner(sessions, clock=clock, spool=online, handlers={"test.later": _noop})
    assert await runner.run_once() == 0
    direct = await online.submit("test.later", {"n": 2}, "later-direct", run_after=due)
    assert direct.job_id is not None
    async with sessions() as session:
        jobs = list((await session.execute(select(Job).order_by(Job.key))).scalars())
    assert [(j.key, j.run_after, j.created_at) for j in jobs] == [
        ("later-direct", due, T0),
        ("later-spooled", due, T0),
    ]
    clock.advance(2)
    assert await runner.run_once() == 2


async def _noop(session: AsyncSession, payload: dict[str, Any]) -> None:
    return None
