"""Retention deletes old recordings with their rows; a root that cannot take files is not ready."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import FixedClock
from cti.container import Container
from cti.jobs.models import Job, JobStatus
from cti.jobs.runner import JobRunner
from cti.jobs.spool import JobSpool
from cti.recordings.config import RecordingSettings
from cti.recordings.context import RecordingContext
from cti.recordings.models import Recording
from cti.recordings.retention import (
    RETENTION_JOB,
    delete_recording,
    retention_handler,
    schedule_retention,
)
from cti.settings import Settings
from tests.wavs import tone

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def add(session: AsyncSession, relative: str, started: datetime, **extra: Any) -> Recording:
    linkedid, _, rest = relative.rpartition("/")[2].partition("-")
    row = Recording(
        public_id="rec_" + hashlib.sha256(relative.encode()).hexdigest()[:26],
        linkedid=linkedid,
        segment=1,
        uniqueid=rest.rpartition(".")[0],
        path=relative,
        direction="inbound",
        started_at=started,
        duration_s=1.0,
        size_bytes=16044,
        format="wav",
        channels=1,
        sha256="0" * 64,
        paused_spans=[],
        status="available",
        created_at=started,
        **extra,
    )
    session.add(row)
    return row


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    (tmp_path / "root").mkdir()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ami_enabled=False,
        agi_enabled=False,
    )
    recordings = RecordingSettings(local_root=str(tmp_path / "root"), retention_days=30)
    c = Container(settings, clock=FixedClock(NOW), recording_settings=recordings)
    try:
        yield c
    finally:
        await c.engine.dispose()


def file(c: Container | RecordingContext, relative: str) -> Path:
    ctx = c.recordings if isinstance(c, Container) else c
    return tone(ctx.store.local_root / relative, 1.0)


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, Any]]:
    async with sessions() as session:
        found = (await session.execute(select(Recording))).scalars()
        return {r.path: (r.status, r.deleted_at) for r in found}


async def test_old_recordings_go_with_their_rows_young_ones_and_voicemail_stay(
    service: Container,
) -> None:
    c = service
    old = "cti/20261001/1790000000.1-1790000000.2.wav"
    young = "cti/20261120/1795000000.1-1795000000.2.wav"
    gone = "cti/20261002/1790100000.1-1790100000.2.wav"
    voicemails = [
        file(c, "cti/20261001/1790000009.1-voicemail.wav"),
        file(c, "cti/voicemail/1790000010.1-voicemail.wav"),
    ]
    old_file, young_file = file(c, old), file(c, young)
    async with c.sessions() as session, session.begin():
        add(session, old, NOW - 40 * DAY)
        add(session, young, NOW - 10 * DAY)
        add(session, gone, NOW - 50 * DAY)  # its file already removed by hand

    submitted = await schedule_retention(c.spool, c.clock, c.recordings.settings)
    assert submitted is not None and submitted.created
    assert await c.jobs.run_once() == 1

    assert not old_file.exists() and young_file.exists()
    assert all(v.exists() for v in voicemails)
    assert await statuses(c.session_maker) == {
        old: ("deleted", NOW),
        gone: ("deleted", NOW),
        young: ("available", None),
    }
    # Submitted again the same day (the hourly ticker, a restart): the same one job.
    again = await schedule_retention(c.spool, c.clock, c.recordings.settings)
    assert again is not None and not again.created
    async with c.sessions() as session:
        [job] = (await session.execute(select(Job).where(Job.kind == RETENTION_JOB))).scalars()
    assert job.key == "retention:2026-11-23" and job.status == JobStatus.DONE.value


async def test_retention_off_schedules_nothing(tmp_path: Path) -> None:
    settings = RecordingSettings(local_root=str(tmp_path), retention_days=0)
    spool = JobSpool(tmp_path / "spool", async_sessionmaker(), clock=FixedClock(NOW))
    assert await schedule_retention(spool, FixedClock(NOW), settings) is None


async def test_a_long_backlog_continues_in_follow_up_jobs(
    service: Container, sessions: async_sessionmaker[AsyncSession]
) -> None:
    c = service
    names = [f"cti/20260901/17800000{i:02d}.1-17800000{i:02d}.2.wav" for i in range(3)]
    async with c.sessions() as session, session.begin():
        for i, name in enumerate(names):
            file(c, name)
            add(session, name, NOW - (90 - i) * DAY)
    runner = JobRunner(
        sessions,
        clock=c.clock,
        handlers={RETENTION_JOB: retention_handler(c.recordings, c.clock, batch=1)},
    )
    await schedule_retention(c.spool, c.clock, c.recordings.settings)
    while await runner.run_once():
        pass
    assert {s for s, _ in (await statuses(sessions)).values()} == {"deleted"}
    async with sessions() as session:
        keys = sorted((await session.execute(select(Job.key))).scalars())
    assert keys == ["retention:2026-11-23", "retention:2026-11-23:2", "retention:2026-11-23:3"]


async def test_a_file_that_cannot_be_deleted_keeps_its_row(service: Container) -> None:
    c = service
    stuck = "cti/20261001/1790000000.1-1790000000.2.wav"
    # A directory under the recording's name: unlink fails, as on a read-only mount.
    (c.recordings.store.local_root / stuck / "x").mkdir(parents=True)
    async with c.sessions() as session, session.begin():
        add(session, stuck, NOW - 40 * DAY)
    await schedule_retention(c.spool, c.clock, c.recordings.settings)
    await c.jobs.run_once()
    assert await statuses(c.session_maker) == {stuck: ("available", None)}
    assert "cti_recordings_delete_failures_total 1.0" in _metrics(c)


async def test_delete_recording_removes_the_file_then_marks_the_row(service: Container) -> None:
    c = service
    name = "cti/20261120/1795000000.1-1795000000.2.wav"
    path = file(c, name)
    async with c.sessions() as session, session.begin():
        row = add(session, name, NOW - DAY)
    async with c.sessions() as session, session.begin():
        row = (await session.execute(select(Recording))).scalar_one()
        await delete_recording(session, c.recordings.store, row, NOW)
    assert not path.exists()
    assert await statuses(c.session_maker) == {name: ("deleted", NOW)}


def _metrics(c: Container) -> str:
    from prometheus_client import generate_latest

    return generate_latest(c.metrics.registry).decode()


async def test_readyz_and_metrics_show_a_recordings_root_that_is_gone(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    token = await make_token("agent", agent="1001")
    auth = {"Authorization": f"Bearer {token}"}
    ready = await client.get("/readyz", headers=auth)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["recordings"] == {"ok": True, "reason": None}
    metrics = (await client.get("/metrics")).text
    assert "cti_recordings_root_ok 1.0" in metrics
    free = [ln for ln in metrics.splitlines() if ln.startswith("cti_recordings_root_free_bytes ")]
    assert free and float(free[0].split()[1]) > 0

    root = container.recordings.store.local_root
    shutil.rmtree(root)
    gone = await client.get("/readyz", headers=auth)
    assert gone.status_code == 503
    assert gone.json()["checks"]["recordings"]["ok"] is False
    assert f"recordings root {root} is missing" in gone.json()["reason"]
    assert (await client.get("/readyz")).json() == {"status": "not ready"}
    assert "cti_recordings_root_ok 0.0" in (await client.get("/metrics")).text
