"""A finished call's recordings are catalogued once their files are complete, exactly once."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select

from cti.clock import FixedClock
from cti.container import Container
from cti.jobs.models import Job, JobStatus
from cti.recordings.audio import read_wav, sha256_file
from cti.recordings.catalog import CATALOG_JOB, catalog_key
from cti.recordings.config import RecordingSettings
from cti.recordings.ids import recording_id
from cti.recordings.models import Recording
from cti.settings import Settings
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from tests.wavs import (
    close_like_asterisk,
    samples_silence,
    samples_tone,
    still_recording,
    write_wav,
)

ASTERISK_ROOT = "/var/spool/asterisk/monitor"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()
LINKEDID = "1795432000.1"
FOLDER = "cti/20261123"
FIRST = f"{FOLDER}/{LINKEDID}-1795432005.3"
SECOND = f"{FOLDER}/{LINKEDID}-1795432060.7"
AGENT1 = "PJSIP/1001-00000003"
AGENT2 = "PJSIP/1002-00000007"

Build = Callable[..., Container]


def event(kind: DomainEventType, at: float, **data: Any) -> DomainEvent:
    return DomainEvent(kind, LINKEDID, at, data)


def summary(*stems: str, ended: float = T0 + 100) -> CallSummary:
    """A call answered by 1001, paused once, blind-transferred to 1002."""
    timeline = [
        event(DomainEventType.CALL_STARTED, T0),
        event(
            DomainEventType.RECORDING_STARTED,
            T0 + 5,
            channel=AGENT1,
            uniqueid="1795432005.3",
            file=f"{ASTERISK_ROOT}/{FIRST}.wav",
        ),
        event(DomainEventType.RECORDING_PAUSED, T0 + 20, channel=AGENT1, uniqueid="1795432005.3"),
        event(DomainEventType.RECORDING_RESUMED, T0 + 35, channel=AGENT1, uniqueid="1795432005.3"),
        event(
            DomainEventType.RECORDING_STARTED,
            T0 + 60,
            channel=AGENT2,
            uniqueid="1795432060.7",
            file=f"{ASTERISK_ROOT}/{SECOND}.wav",
        ),
    ]
    return CallSummary(
        linkedid=LINKEDID,
        caller_number="013812345678",
        caller_name=None,
        dnis="4008001234",
        queue="hotline",
        outcome=Outcome.ANSWERED,
        agent="PJSIP/1001",
        started_at=T0,
        ended_at=ended,
        wait_s=3.0,
        talk_s=90.0,
        hangup_cause=16,
        timeline=timeline,
        recordings=tuple(f"{ASTERISK_ROOT}/{stem}.wav" for stem in stems),
        order_id="A-1001",
        direction="inbound",
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + 100)


@pytest.fixture
async def build(database_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Build]:
    """Containers on one database and recordings root; their job runners driven by hand."""
    made: list[Container] = []
    (tmp_path / "root").mkdir()

    def make(**recording: Any) -> Container:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            ami_enabled=False,
            agi_enabled=False,
            recordings_root=ASTERISK_ROOT,
        )
        values = {"local_root": str(tmp_path / "root"), "settle_s": 2.0, **recording}
        c = Container(settings, clock=clock, recording_settings=RecordingSettings(**values))
        made.append(c)
        return c

    yield make
    for c in made:
        await c.engine.dispose()


def local(c: Container, relative: str) -> Path:
    return c.recordings.store.local_root / relative


def settle(*paths: Path, at: float = T0 + 100) -> None:
    """Last written when the call ended (the test clock's time, not the machine's)."""
    for path in paths:
        os.utime(path, (at, at))


async def end_call(c: Container, call: CallSummary) -> None:
    c.bus.publish(DomainEvent(DomainEventType.ENDED, LINKEDID, call.ended_at, {"summary": call}))
    await c.bus.drain()


async def rows(c: Container) -> list[Recording]:
    async with c.sessions() as session:
        return list(
            (await session.execute(select(Recording).order_by(Recording.segment))).scalars()
        )


async def job(c: Container, public_id: str) -> Job:
    async with c.sessions() as session:
        found = await session.execute(select(Job).where(Job.key == catalog_key(public_id)))
        return found.scalar_one()


def metric(c: Container, line: str) -> bool:
    return line in generate_latest(c.metrics.registry).decode()


async def test_a_transferred_call_is_catalogued_as_two_segments_once_asterisk_closed_them(
    build: Build, clock: FixedClock
) -> None:
    c = build()
    first = write_wav(local(c, f"{FIRST}.wav"), samples_tone(55.0))
    second = still_recording(local(c, f"{SECOND}.wav"), 40.0)  # Asterisk still closing it
    settle(first, second)
    await end_call(c, summary(FIRST, SECOND))
    ids = [recording_id(c.recordings.key, LINKEDID, n) for n in (1, 2)]

    # Due once the settle time has passed since the call's end.
    assert await c.jobs.run_once() == 0
    clock.advance(2)
    assert await c.jobs.run_once() == 2
    [one] = await rows(c)
    assert (one.public_id, one.segment, one.path, one.format, one.channels) == (
        ids[0],
        1,
        f"{FIRST}.wav",
        "wav",
        1,
    )
    assert one.caller_number == "+8613812345678"  # normalised
    assert (one.agent, one.queue, one.direction, one.order_id) == (
        "1001",
        "hotline",
        "inbound",
        "A-1001",
    )
    assert one.uniqueid == "1795432005.3"
    assert one.started_at.timestamp() == T0 + 5
    assert one.duration_s == 55.0
    assert one.size_bytes == first.stat().st_size and one.sha256 == sha256_file(first)
    assert one.paused_spans == [{"start_s": 15.0, "end_s": 30.0}]
    assert one.status == "available"

    # The second file is still open: "not yet", and waiting spends no attempt.
    waiting = await job(c, ids[1])
    assert waiting.status == JobStatus.QUEUED.value and waiting.attempts == 0
    assert (waiting.last_error or "").startswith("not yet: ")
    for _ in range(5):
        clock.advance(2)
        await c.jobs.run_once()
    assert (await job(c, ids[1])).attempts == 0

    close_like_asterisk(second)
    settle(second, at=clock.time())
    clock.advance(2)
    await c.jobs.run_once()
    one, two = await rows(c)
    assert (two.public_id, two.segment, two.agent, two.duration_s) == (ids[1], 2, "1002", 40.0)
    assert (await job(c, ids[1])).status == JobStatus.DONE.value
    assert metric(c, "cti_recordings_catalogued_total 2.0")


async def test_dual_channel_opus_is_one_stereo_file_listed_with_its_facts(
    build: Build, clock: FixedClock
) -> None:
    c = build(format="opus")
    mix = write_wav(local(c, f"{FIRST}.wav"), samples_tone(6.0))
    caller = write_wav(local(c, f"{FIRST}.caller.wav"), samples_tone(6.0, 300))
    agent = write_wav(local(c, f"{FIRST}.agent.wav"), samples_silence(6.0))
    settle(mix, caller, agent)
    await end_call(c, summary(FIRST))
    clock.advance(3)
    assert await c.jobs.run_once() == 1
    [row] = await rows(c)
    stored = local(c, f"{FIRST}.opus")
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name]
    assert (row.path, row.format, row.channels, row.duration_s) == (f"{FIRST}.opus", "opus", 2, 6.0)
    assert row.size_bytes == stored.stat().st_size and row.sha256 == sha256_file(stored)
    assert stored.read_bytes()[:4] == b"OggS"


async def test_a_crash_between_conversion_and_insert_is_finished_once(
    build: Build, clock: FixedClock, database_url: str
) -> None:
    c = build(format="opus")
    mix = write_wav(local(c, f"{FIRST}.wav"), samples_tone(7.0))
    settle(mix)
    await end_call(c, summary(FIRST))
    clock.advance(3)
    [queued] = [j async for j in _catalog_jobs(c)]

    # The handler converts, then the process dies before its transaction commits.
    handler = _handler(c)
    async with c.sessions() as session:
        await session.begin()
        await handler(session, dict(queued.payload))
        await session.rollback()
    assert await rows(c) == []
    assert not mix.exists() and local(c, f"{FIRST}.opus").exists()

    # After the restart the job runs again: it catalogs what is on disk, once.
    again = build(format="opus")
    assert await again.jobs.run_once() == 1
    [row] = await rows(again)
    assert row.path == f"{FIRST}.opus" and abs(row.duration_s - 7.0) < 0.05
    assert row.sha256 == sha256_file(local(again, f"{FIRST}.opus"))
    # Delivered again (a replayed ENDED) it is the same job and the same row.
    await end_call(again, summary(FIRST))
    await again.jobs.run_once()
    assert len(await rows(again)) == 1


async def test_a_file_outside_the_root_is_refused_and_nothing_is_written(
    build: Build, clock: FixedClock, tmp_path: Path
) -> None:
    c = build()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    planted = write_wav(outside / f"{LINKEDID}-1795432005.3.wav", samples_tone(1.0))
    settle(planted)
    before = planted.read_bytes()
    # A date folder that is a symbolic link out of the root, and a path outside it.
    local(c, "cti").mkdir(parents=True)
    local(c, "cti/20261124").symlink_to(outside)
    linked = f"cti/20261124/{LINKEDID}-1795432005.3"
    await end_call(c, summary(linked))
    call = summary(FIRST)
    call.recordings = ("/etc/asterisk/manager.conf",)
    call.linkedid = "1795432999.9"
    c.bus.publish(
        DomainEvent(DomainEventType.ENDED, call.linkedid, call.ended_at, {"summary": call})
    )
    await c.bus.drain()
    clock.advance(3)
    assert await c.jobs.run_once() == 2
    assert await rows(c) == []
    for j in [j async for j in _catalog_jobs(c, status=None)]:
        assert j.status == JobStatus.DEAD.value and j.attempts == 1
        assert "outside the recordings root" in (j.last_error or "")
    assert planted.read_bytes() == before
    assert metric(c, 'cti_recordings_catalog_failures_total{reason="outside_root"} 2.0')


async def test_a_file_that_never_appears_fails_after_the_patience_runs_out(
    build: Build, clock: FixedClock
) -> None:
    c = build()
    await end_call(c, summary(FIRST))
    clock.advance(3)
    await c.jobs.run_once()
    [waiting] = [j async for j in _catalog_jobs(c)]
    assert waiting.attempts == 0 and "no recording file yet" in (waiting.last_error or "")
    clock.advance(900)
    await c.jobs.run_once()
    [failed] = [j async for j in _catalog_jobs(c)]
    assert failed.attempts == 1 and failed.run_after > clock.now()  # a real retry, with backoff
    assert "no recording file yet 900 s after the call ended" in (failed.last_error or "")
    assert metric(c, 'cti_recordings_catalog_failures_total{reason="incomplete"} 1.0')


async def test_the_catalog_measures_duration_from_the_audio(
    build: Build, clock: FixedClock
) -> None:
    c = build()
    mix = write_wav(local(c, f"{FIRST}.wav"), samples_tone(12.345))
    settle(mix)
    await end_call(c, summary(FIRST))
    clock.advance(3)
    await c.jobs.run_once()
    [row] = await rows(c)
    assert row.duration_s == read_wav(mix).duration_s == 12.345


async def _catalog_jobs(
    c: Container, status: JobStatus | None = JobStatus.QUEUED
) -> AsyncIterator[Job]:
    async with c.sessions() as session:
        stmt = select(Job).where(Job.kind == CATALOG_JOB).order_by(Job.id)
        if status is not None:
            stmt = stmt.where(Job.status == status.value)
        for found in (await session.execute(stmt)).scalars():
            yield found


def _handler(c: Container) -> Any:
    from cti.recordings.catalog import catalog_handler

    return catalog_handler(c.recordings, c.clock)
