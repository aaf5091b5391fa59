"""Written before acknowledged: with the database down a job waits on disk, then becomes one job.

The callback path end to end: a voicemail submitted while the database is
down survives a restart (new spool, new runner) and becomes exactly one
callback ticket, however often it was submitted.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import FixedClock
from cti.customers.phones import PhoneNormalizer
from cti.jobs.models import JobStatus
from cti.jobs.runner import JobRunner
from cti.jobs.service import list_jobs
from cti.jobs.spool import JobNotSaved, JobSpool, spool_dir
from cti.tickets.callbacks import CALLBACK_JOB, callback_handler, submit_callback
from cti.tickets.schemas import TicketType
from cti.tickets.service import TicketFilter, list_tickets
from tests.db.test_callbacks import MESSAGE

SUBMITTED = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(SUBMITTED)


def runner_for(
    sessions: async_sessionmaker[AsyncSession], spool: JobSpool, clock: FixedClock
) -> JobRunner:
    return JobRunner(
        sessions,
        clock=clock,
        spool=spool,
        handlers={CALLBACK_JOB: callback_handler(PhoneNormalizer(), clock)},
    )


async def callback_tickets(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with sessions() as session:
        items, _ = await list_tickets(session, TicketFilter(type=TicketType.CALLBACK.value))
    return list(items)


async def test_voicemail_with_the_database_up_becomes_one_callback_ticket(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock, tmp_path: Path
) -> None:
    spool = JobSpool(spool_dir(tmp_path), sessions, clock=clock)
    first = await submit_callback(spool, MESSAGE)
    again = await submit_callback(spool, MESSAGE)
    assert first.job_id is not None and first.created and first.spooled is None
    assert again.job_id == first.job_id and not again.created
    assert await runner_for(sessions, spool, clock).run_once() == 1
    [ticket] = await callback_tickets(sessions)
    assert ticket.caller_number == "13812345678"
    assert ticket.linkedid == MESSAGE.linkedid
    assert ticket.recording_path == MESSAGE.recording_path
    assert ticket.description == "客户语音留言（节假日）；来电人：陈静"


async def test_a_voicemail_while_the_database_is_down_survives_a_restart(
    sessions: async_sessionmaker[AsyncSession],
    down: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    folder = spool_dir(tmp_path)
    before = JobSpool(folder, down, clock=clock)
    saved = await submit_callback(before, MESSAGE)  # returns: the AGI call ends normally
    assert saved.job_id is None and saved.spooled is not None and saved.spooled.parent == folder
    clock.advance(1)
    await submit_callback(before, MESSAGE)  # the same voicemail handed in twice
    assert before.pending() == 2
    async with sessions() as session:
        assert await list_jobs(session) == []
    del before  # the process ends; only the files remain
    clock.advance(3600)  # the database answers an hour later

    after = JobSpool(folder, sessions, clock=clock)
    assert await runner_for(sessions, after, clock).run_once() == 1
    assert after.pending() == 0 and list(folder.iterdir()) == []
    [ticket] = await callback_tickets(sessions)
    assert ticket.caller_number == "13812345678"
    assert ticket.description == "客户语音留言（节假日）；来电人：陈静"
    async with sessions() as session:
        [job] = await list_jobs(session)
    assert job.status == JobStatus.DONE.value and job.key == "callback:1795432195.64"
    assert job.created_at == SUBMITTED  # when the caller left it, not when it was drained


async def test_a_spooled_job_is_not_doubled_by_a_crash_before_its_file_is_removed(
    sessions: async_sessionmaker[AsyncSession],
    down: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    folder = spool_dir(tmp_path)
    saved = await submit_callback(JobSpool(folder, down, clock=clock), MESSAGE)
    assert saved.spooled is not None
    kept = tmp_path / "kept.job"
    shutil.copy(saved.spooled, kept)
    spool = JobSpool(folder, sessions, clock=clock)
    runner = runner_for(sessions, spool, clock)
    assert await runner.run_once() == 1
    # As if the process died after the insert, before the unlink: the file is back.
    shutil.copy(kept, saved.spooled)
    assert await runner.run_once() == 0
    assert spool.pending() == 0
    assert len(await callback_tickets(sessions)) == 1
    async with sessions() as session:
        assert len(await list_jobs(session)) == 1


async def test_a_corrupt_spool_file_is_set_aside_and_the_rest_drains(
    sessions: async_sessionmaker[AsyncSession],
    down: async_sessionmaker[AsyncSession],
    clock: FixedClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = spool_dir(tmp_path)
    await submit_callback(JobSpool(folder, down, clock=clock), MESSAGE)
    (folder / "00000000000000000001-torn.job").write_bytes(b'{"format": 1, "kind": "tick')
    (folder / "00000000000000000002-odd.job").write_bytes(b'{"format": 1, "kind": "x"}')
    spool = JobSpool(folder, sessions, clock=clock)
    with caplog.at_level(logging.ERROR, logger="cti.jobs.spool"):
        assert await spool.drain() == 1
    assert spool.pending() == 0
    aside = sorted(p.name for p in (folder.parent / "corrupt").iterdir())
    assert aside == ["00000000000000000001-torn.job", "00000000000000000002-odd.job"]
    assert sum("is corrupt" in r.getMessage() for r in caplog.records) == 2
    assert await runner_for(sessions, spool, clock).run_once() == 1
    assert len(await callback_tickets(sessions)) == 1


async def test_a_database_that_hangs_does_not_hold_the_caller(
    clock: FixedClock, tmp_path: Path
) -> None:
    @asynccontextmanager
    async def hung() -> AsyncIterator[AsyncSession]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]  # never reached

    spool = JobSpool(spool_dir(tmp_path), hung, clock=clock, db_timeout=0.05)  # type: ignore[arg-type]
    async with asyncio.timeout(10):
        saved = await submit_callback(spool, MESSAGE)
    assert saved.spooled is not None and spool.pending() == 1


async def test_a_job_that_can_never_be_stored_is_refused_not_spooled(
    down: async_sessionmaker[AsyncSession], clock: FixedClock, tmp_path: Path
) -> None:
    spool = JobSpool(spool_dir(tmp_path), down, clock=clock)
    with pytest.raises(TypeError):
        await spool.submit("test.echo", {"at": object()}, "k")
    with pytest.raises(ValueError):
        await spool.submit("test.echo", {}, "k" * 201)
    assert spool.pending() == 0


async def test_when_disk_and_database_both_fail_the_caller_is_told(
    down: async_sessionmaker[AsyncSession], clock: FixedClock, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    spool = JobSpool(blocked / "jobs", down, clock=clock)
    with pytest.raises(JobNotSaved):
        await submit_callback(spool, MESSAGE)
