"""Jobs in the table: idempotent enqueue, leases that never overlap, retries, dead jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import FixedClock
from cti.customers.phones import PhoneNormalizer
from cti.db.engine import create_engine, session_factory
from cti.jobs.models import Job, JobStatus
from cti.jobs.runner import JobRunner
from cti.jobs.service import (
    Backoff,
    complete,
    count_jobs,
    enqueue,
    get_job,
    lease,
    list_jobs,
    oldest_due,
    requeue,
)
from cti.tickets.callbacks import callback_handler
from cti.tickets.service import TicketFilter, create_callback_ticket, list_tickets

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


async def add(
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    kind: str = "test.echo",
    payload: dict[str, Any] | None = None,
    max_attempts: int = 5,
) -> int:
    async with sessions() as session, session.begin():
        job, _ = await enqueue(
            session,
            kind=kind,
            key=key,
            payload=payload or {"n": key},
            now=T0,
            max_attempts=max_attempts,
        )
        return job.id


async def fetch(sessions: async_sessionmaker[AsyncSession], job_id: int) -> Job:
    async with sessions() as session:
        job = await get_job(session, job_id=job_id)
    assert job is not None
    return job


async def take(
    sessions: async_sessionmaker[AsyncSession], owner: str, now: datetime, limit: int = 1
) -> list[Job]:
    async with sessions() as session, session.begin():
        return await lease(session, owner=owner, now=now, lease_for=MINUTE, limit=limit)


async def test_enqueue_is_idempotent_by_key(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        first, created = await enqueue(
            session, kind="test.echo", key="k-1", payload={"v": 1}, now=T0
        )
        assert created
    async with sessions() as session, session.begin():
        again, created = await enqueue(
            session, kind="test.echo", key="k-1", payload={"v": 2}, now=T0 + MINUTE
        )
        assert not created
    assert again.id == first.id and again.payload == {"v": 1}
    async with sessions() as session:
        assert [j.key for j in await list_jobs(session)] == ["k-1"]
        assert await count_jobs(session) == {("test.echo", "queued"): 1}


async def test_oldest_due_counts_only_queued_jobs_whose_time_has_come(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        for key, kind, run_after in [
            ("late-1", "test.echo", T0),
            ("late-2", "test.echo", T0 + 2 * MINUTE),
            ("retry", "test.retry", T0 + 30 * MINUTE),  # waiting for its retry: not due
        ]:
            await enqueue(session, kind=kind, key=key, payload={}, now=T0, run_after=run_after)
        await enqueue(session, kind="test.taken", key="taken", payload={}, now=T0)
    [taken] = await take(sessions, "w", T0 + MINUTE)  # the oldest of all, running now
    assert taken.kind == "test.echo" and taken.key == "late-1"
    async with sessions() as session:
        assert await oldest_due(session, T0 + 10 * MINUTE) == {
            "test.echo": 8 * 60.0,
            "test.taken": 10 * 60.0,
        }


# SQLite serves one process; concurrent leasers are a PostgreSQL matter.
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@postgres_only
async def test_a_job_leased_in_an_open_transaction_is_skipped_not_waited_for(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first, second = await add(sessions, "a"), await add(sessions, "b")
    other_engine = create_engine(database_url)
    try:
        async with sessions() as holding, holding.begin():
            [mine] = await lease(holding, owner="one", now=T0, lease_for=MINUTE)
            # The first leaser has not committed: without SKIP LOCKED the second would
            # block on its row (or, without FOR UPDATE, take the same job).
            async with asyncio.timeout(10):
                theirs = await take(session_factory(other_engine), "two", T0)
    finally:
        await other_engine.dispose()
    assert [mine.id, *[j.id for j in theirs]] == [first, second]


@postgres_only
async def test_two_concurrent_leasers_never_get_the_same_job(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ids = {await add(sessions, f"job-{n}") for n in range(40)}
    engines = [create_engine(database_url) for _ in range(2)]

    async def leaser(owner: str, maker: async_sessionmaker[AsyncSession]) -> list[int]:
        got: list[int] = []
        while batch := await take(maker, owner, T0, limit=3):
            got += [j.id for j in batch]
            await asyncio.sleep(0)
        return got

    try:
        one, two = await asyncio.gather(
            *(leaser(f"w{i}", session_factory(e)) for i, e in enumerate(engines))
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert not set(one) & set(two)
    assert sorted(one + two) == sorted(ids)
    assert one and two  # both really ran at once


async def test_an_expired_lease_is_taken_back(sessions: async_sessionmaker[AsyncSession]) -> None:
    job_id = await add(sessions, "slow")
    [first] = await take(sessions, "crashed-worker", T0)
    assert first.attempts == 1 and first.lease_owner == "crashed-worker"
    assert await take(sessions, "other", T0 + MINUTE - timedelta(seconds=1)) == []
    [again] = await take(sessions, "other", T0 + MINUTE)
    assert again.id == job_id and again.attempts == 2 and again.lease_owner == "other"
    async with sessions() as session, session.begin():
        # The first worker wakes up: its lease is gone, it cannot complete the job.
        assert not await complete(session, job_id=job_id, owner="crashed-worker", now=T0)
        assert await complete(session, job_id=job_id, owner="other", now=T0)
    assert (await fetch(sessions, job_id)).status == JobStatus.DONE.value


async def test_a_lease_running_out_on_the_last_attempt_makes_the_job_dead(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    job_id = await add(sessions, "poison", max_attempts=2)
    await take(sessions, "w", T0)
    await take(sessions, "w", T0 + MINUTE)
    assert await take(sessions, "w", T0 + 2 * MINUTE) == []
    job = await fetch(sessions, job_id)
    assert job.status == JobStatus.DEAD.value and job.attempts == 2
    assert job.last_error is not None and "lease ran out" in job.last_error


async def test_a_failing_handler_is_retried_with_growing_backoff_then_dead(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    calls: list[datetime] = []

    async def flaky(session: AsyncSession, payload: dict[str, Any]) -> None:
        calls.append(clock.now())
        raise ConnectionError("shop backend refused the webhook")

    runner = JobRunner(
        sessions,
        clock=clock,
        handlers={"test.echo": flaky},
        backoff=Backoff(base_s=10, factor=2, max_s=3600),
    )
    job_id = await add(sessions, "webhook-1", max_attempts=4)
    waits: list[float] = []
    for _ in range(3):
        assert await runner.run_once() == 1
        job = await fetch(sessions, job_id)
        assert job.status == JobStatus.QUEUED.value
        wait = (job.run_after - clock.now()).total_seconds()
        waits.append(wait)
        clock.advance(wait - 0.5)
        assert await runner.run_once() == 0  # not due yet
        clock.advance(0.5)
    assert waits == [10, 20, 40]
    assert await runner.run_once() == 1
    job = await fetch(sessions, job_id)
    assert job.status == JobStatus.DEAD.value and job.attempts == 4
    assert job.last_error == "ConnectionError: shop backend refused the webhook"
    clock.advance(86400)
    assert await runner.run_once() == 0
    assert len(calls) == 4
    async with sessions() as session:
        assert [j.id for j in await list_jobs(session, status=JobStatus.DEAD)] == [job_id]
    async with sessions() as session, session.begin():
        assert await requeue(session, job_id=job_id, now=clock.now()) is not None
    assert await runner.run_once() == 1 and len(calls) == 5


async def test_a_failed_attempt_leaves_no_half_done_effect(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    fail_next = [True]

    async def ticket_then_maybe_fail(session: AsyncSession, payload: dict[str, Any]) -> None:
        await create_callback_ticket(
            session,
            phones=PhoneNormalizer(),
            caller_number="13812345678",
            recording_path=None,
            linkedid="1.1",
            note="note",
            now=clock.now(),
        )
        if fail_next.pop():
            raise RuntimeError("crashed after writing")

    fail_next.insert(0, False)  # second attempt succeeds
    runner = JobRunner(sessions, clock=clock, handlers={"test.echo": ticket_then_maybe_fail})
    job_id = await add(sessions, "once")
    await runner.run_once()
    async with sessions() as session:
        assert (await list_tickets(session, TicketFilter()))[1] == 0
    clock.advance(3600)
    await runner.run_once()
    async with sessions() as session:
        assert (await list_tickets(session, TicketFilter()))[1] == 1
    assert (await fetch(sessions, job_id)).status == JobStatus.DONE.value


async def test_last_error_is_short_and_keeps_no_secrets(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    async def leaky(session: AsyncSession, payload: dict[str, Any]) -> None:
        raise OSError(
            "cannot reach postgresql://cti:hunter2@db.example/cti token=abc123 "
            + "x" * 500
            + "\n[parameters: ('13812345678',)]"
        )

    runner = JobRunner(sessions, clock=clock, handlers={"test.echo": leaky})
    job_id = await add(sessions, "leaky")
    await runner.run_once()
    error = (await fetch(sessions, job_id)).last_error or ""
    assert error.startswith("OSError: cannot reach postgresql://cti:***@db.example/cti")
    assert "hunter2" not in error and "abc123" not in error and "13812345678" not in error
    assert len(error) <= 300


async def test_a_callback_job_with_an_unusable_payload_is_dead_at_once(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    runner = JobRunner(
        sessions,
        clock=clock,
        handlers={"tickets.callback": callback_handler(PhoneNormalizer(), clock)},
    )
    job_id = await add(sessions, "callback:x", kind="tickets.callback", payload={"reason": 3})
    assert await runner.run_once() == 1
    job = await fetch(sessions, job_id)
    assert job.status == JobStatus.DEAD.value and job.attempts == 1
    assert job.last_error is not None and job.last_error.startswith("InvalidJob:")


async def test_a_runner_leaves_kinds_it_cannot_handle(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    done: list[str] = []

    async def echo(session: AsyncSession, payload: dict[str, Any]) -> None:
        done.append(payload["n"])

    job_id = await add(sessions, "dial-1", kind="outbound.dial")
    await add(sessions, "echo-1")
    runner = JobRunner(sessions, clock=clock, handlers={"test.echo": echo})
    assert await runner.run_once() == 1 and done == ["echo-1"]
    assert (await fetch(sessions, job_id)).status == JobStatus.QUEUED.value


async def test_the_runner_task_starts_and_stops(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock
) -> None:
    seen = asyncio.Event()

    async def echo(session: AsyncSession, payload: dict[str, Any]) -> None:
        seen.set()

    runner = JobRunner(sessions, clock=clock, handlers={"test.echo": echo}, poll_interval=0.05)
    runner.start()
    try:
        await add(sessions, "late")
        async with asyncio.timeout(10):
            await seen.wait()
    finally:
        await runner.stop()
    async with sessions() as session:
        assert [j.status for j in await list_jobs(session)] == ["done"]
