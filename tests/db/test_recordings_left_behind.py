"""Recordings of calls that ended while the service was not running get their rows at start."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cti.app import running
from cti.calls.service import get_call
from cti.container import Container
from cti.db.migrate import upgrade_async
from cti.jobs.models import Job
from cti.jobs.service import enqueue
from cti.recordings.audio import sha256_file
from cti.recordings.config import RecordingSettings
from cti.recordings.left_behind import LEFT_BEHIND_JOB, left_behind_handler
from cti.recordings.models import Recording
from cti.settings import Settings
from tests.db.test_recordings_check import ASTERISK_ROOT, row
from tests.wavs import still_recording, tone

START = time.time()
SINCE = START - 600
DAY = datetime.fromtimestamp(START, UTC).strftime("%Y%m%d")


def at(path: Path, when: float) -> Path:
    os.utime(path, (when, when))
    return path


@pytest.fixture
async def container(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ami_enabled=False,
        agi_enabled=False,
        recordings_root=ASTERISK_ROOT,
    )
    recordings = RecordingSettings(local_root=str(tmp_path / "root"))
    c = Container(settings, recording_settings=recordings)
    try:
        yield c
    finally:
        await c.engine.dispose()


async def test_only_files_closed_while_no_service_ran_and_known_to_nobody_are_catalogued(
    container: Container,
) -> None:
    ctx = container.recordings
    root = ctx.store.local_root
    folder = root / "cti" / DAY
    ended_meanwhile = at(tone(folder / "1795500000.1-1795500000.2.wav", 2.0), START - 60)
    untouched = {
        "catalogued": at(tone(folder / "1795500001.1-1795500001.2.wav", 1.0), START - 60),
        "job on its way": at(tone(folder / "1795500002.1-1795500002.2.wav", 1.0), START - 60),
        "Asterisk still writes it": at(
            still_recording(folder / "1795500003.1-1795500003.2.wav", 1.0), START - 60
        ),
        "before the last sign of life": at(
            tone(folder / "1795500004.1-1795500004.2.wav", 1.0), SINCE - 60
        ),
        "written since the start": at(
            tone(folder / "1795500005.1-1795500005.2.wav", 1.0), START + 5
        ),
        "voicemail": at(tone(root / "cti/voicemail/1795500006.1-voicemail.wav", 1.0), START - 60),
    }
    before = {name: path.read_bytes() for name, path in untouched.items()}
    async with container.sessions() as session, session.begin():
        session.add(row(f"cti/{DAY}/1795500001.1-1795500001.2.wav"))
        await enqueue(
            session,
            kind="recordings.catalog",
            key="recording:rec_onitsway",
            payload={"file": f"{ASTERISK_ROOT}/cti/{DAY}/1795500002.1-1795500002.2.wav"},
            now=datetime.now(UTC),
        )
    handler = left_behind_handler(ctx, container.clock, lookup=get_call, phones=container.phones)
    for _ in range(2):  # a second run finds nothing more to do
        async with container.sessions() as session, session.begin():
            await handler(session, {"since": SINCE, "before": START})
    async with container.sessions() as session:
        rows = list((await session.execute(select(Recording))).scalars())
    by_path = {r.path: r for r in rows}
    assert sorted(by_path) == sorted(
        [f"cti/{DAY}/1795500000.1-1795500000.2.wav", f"cti/{DAY}/1795500001.1-1795500001.2.wav"]
    )
    found = by_path[f"cti/{DAY}/1795500000.1-1795500000.2.wav"]
    assert found.linkedid == "1795500000.1" and found.uniqueid == "1795500000.2"
    assert found.sha256 == sha256_file(ended_meanwhile) and found.duration_s == 2.0
    assert {name: path.read_bytes() for name, path in untouched.items()} == before


async def test_a_start_after_an_earlier_run_looks_for_them_a_first_start_does_not(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "root").mkdir()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ami_enabled=False,
        agi_enabled=False,
        recordings_root=str(tmp_path / "root"),
    )
    await upgrade_async(database_url)

    async def left_behind_jobs() -> list[Job]:
        async with running(settings, migrate=False) as c, c.sessions() as session:
            jobs = select(Job).where(Job.kind == LEFT_BEHIND_JOB)
            return list((await session.execute(jobs)).scalars())

    assert await left_behind_jobs() == []
    [job] = await left_behind_jobs()
    assert job.payload["since"] < job.payload["before"] <= time.time()
