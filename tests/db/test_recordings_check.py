"""`cti recordings check [--repair]` finds planted orphans of each kind and fixes them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cti.calls.writer import write_batch
from cti.db.engine import create_engine, session_factory
from cti.jobs.service import enqueue
from cti.recordings.audio import sha256_file, wav_complete
from cti.recordings.ids import load_key, recording_id
from cti.recordings.models import Recording
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from tests.wavs import still_recording, tone

ASTERISK_ROOT = "/var/spool/asterisk/monitor"
HOUR = 3600.0
CALL = "1795432000.1"
KNOWN = f"cti/20261123/{CALL}-1795432005.3.wav"  # its call is in the calls table
STRAY = "cti/20261124/1795500000.5-1795500001.6.wav"  # no call known
ABANDONED = "cti/20261120/1795100000.1-1795100000.2.wav"  # Asterisk never closed it
GONE = "cti/20261122/1795300000.1-1795300000.2.wav"  # row, no file
BACK = "cti/20261122/1795300100.1-1795300100.2.wav"  # row marked missing, file is back
ENCODED = "cti/20261121/1795200000.1-1795200000.2"  # catalogued .opus, .wav left beside it


def aged(path: Path, seconds: float) -> Path:
    at = time.time() - seconds
    os.utime(path, (at, at))
    return path


async def cti(
    database_url: str, data_dir: Path, root: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env |= {
        "CTI_DATABASE_URL": database_url,
        "CTI_DATA_DIR": str(data_dir),
        "CTI_RECORDINGS_ROOT": ASTERISK_ROOT,
        "CTI_RECORDINGS_LOCAL_ROOT": str(root),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cti", "recordings", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def row(relative: str, status: str = "available", sha256: str = "0" * 64) -> Recording:
    linkedid = relative.rpartition("/")[2].partition("-")[0]
    return Recording(
        public_id="rec_" + relative.replace("/", "").replace(".", "")[-26:],
        linkedid=linkedid,
        segment=1,
        path=relative,
        direction="inbound",
        started_at=datetime(2026, 11, 22, tzinfo=UTC),
        duration_s=1.0,
        size_bytes=1,
        format=relative.rpartition(".")[2],
        channels=1,
        sha256=sha256,
        paused_spans=[],
        status=status,
        created_at=datetime(2026, 11, 22, tzinfo=UTC),
    )


def known_call() -> CallSummary:
    t0 = time.time() - 2 * HOUR
    started = DomainEvent(
        DomainEventType.RECORDING_STARTED,
        CALL,
        t0 + 5,
        {"channel": "PJSIP/1001-00000003", "uniqueid": "1795432005.3", "file": ""},
    )
    started.data["file"] = f"{ASTERISK_ROOT}/{KNOWN}"
    paused = DomainEvent(
        DomainEventType.RECORDING_PAUSED, CALL, t0 + 8, {"channel": "PJSIP/1001-00000003"}
    )
    resumed = DomainEvent(
        DomainEventType.RECORDING_RESUMED, CALL, t0 + 9, {"channel": "PJSIP/1001-00000003"}
    )
    return CallSummary(
        linkedid=CALL,
        caller_number="13812345678",
        caller_name=None,
        dnis=None,
        queue="hotline",
        outcome=Outcome.ANSWERED,
        agent="PJSIP/1001",
        started_at=t0,
        ended_at=t0 + 20,
        wait_s=1.0,
        talk_s=15.0,
        hangup_cause=16,
        timeline=[started, paused, resumed],
    )


async def plant(database_url: str, root: Path) -> dict[str, Any]:
    """One orphan of each kind, and files the check must leave alone."""
    old = 2 * HOUR
    aged(tone(root / KNOWN, 3.0), old)
    aged(tone(root / STRAY, 2.0), old)
    aged(still_recording(root / ABANDONED, 1.5), 2 * 86400)
    aged(tone(root / BACK, 1.0), old)
    aged(tone(root / f"{ENCODED}.opus", 1.0), old)  # stands in for the encoded file
    aged(tone(root / f"{ENCODED}.wav", 1.0), old)
    untouched = [
        tone(root / "cti/20261123/1795432100.2-voicemail.wav", 1.0),  # voicemail, date folder
        tone(root / "cti/voicemail/1795432101.2-voicemail.wav", 1.0),
        tone(root / f"cti/20261123/{CALL}-1795432005.9.caller.wav", 1.0),  # a leg
        tone(root / f"cti/20261123/.{CALL}-1795432005.8.wav.tmp-0a1b2c3d", 1.0),  # temp
        tone(root / "cti/20261123/1795432200.1-1795432200.2.wav", 1.0),  # just written
        tone(root / "cti/20261123/1795432300.1-1795432300.2.wav", 1.0),  # job on its way
        still_recording(root / "cti/20261123/1795432400.1-1795432400.2.wav", 1.0),  # in a call
    ]
    for path in untouched[:4] + untouched[5:]:
        aged(path, old)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await write_batch(sessions, [known_call()])
        async with sessions() as session, session.begin():
            session.add(row(GONE))
            session.add(row(BACK, status="missing", sha256=sha256_file(root / BACK)))
            session.add(row(f"{ENCODED}.opus"))
            await enqueue(
                session,
                kind="recordings.catalog",
                key="recording:rec_onitsway",
                payload={"file": f"{ASTERISK_ROOT}/cti/20261123/1795432300.1-1795432300.2.wav"},
                now=datetime.now(UTC),
            )
    finally:
        await engine.dispose()
    return {"untouched": {p: p.read_bytes() for p in untouched}}


async def catalog(database_url: str) -> dict[str, Recording]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return {r.path: r for r in (await session.execute(select(Recording))).scalars()}
    finally:
        await engine.dispose()


async def test_check_reports_each_kind_of_orphan_and_repair_fixes_them(
    database_url: str, tmp_path: Path
) -> None:
    root, data = tmp_path / "root", tmp_path / "data"
    planted = await plant(database_url, root)

    found = await cti(database_url, data, root)
    assert found.returncode == 1, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    assert f"file without a row: {KNOWN} (48044 bytes)" in lines
    assert any(ln.startswith(f"file without a row: {STRAY} ") for ln in lines)
    assert any(ln.startswith(f"file without a row: {ABANDONED} ") for ln in lines)
    assert any(ln.startswith(f"leftover file: {ENCODED}.wav (recording ") for ln in lines)
    assert any(ln.startswith("row without its file: ") and ln.endswith(GONE) for ln in lines)
    assert any(ln.startswith("file back for a row marked missing: ") for ln in lines)
    assert "orphans found; `cti recordings check --repair` fixes them" in lines
    # Nothing else: voicemail, legs, temp files, recent and busy files are not orphans.
    assert len([ln for ln in lines if ":" in ln and not ln.startswith("recordings root")]) == 6
    assert "3 file(s) not judged" in lines[0]

    repaired = await cti(database_url, data, root, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    rows = await catalog(database_url)
    key = load_key("", data)
    known = rows[KNOWN]
    assert (known.public_id, known.segment, known.status) == (
        recording_id(key, CALL, 1),
        1,
        "available",
    )
    assert (known.agent, known.queue, known.caller_number) == ("1001", "hotline", "+8613812345678")
    assert known.paused_spans == [{"start_s": 3.0, "end_s": 4.0}]
    assert known.duration_s == 3.0 and known.sha256 == sha256_file(root / KNOWN)
    stray = rows[STRAY]
    assert (stray.agent, stray.caller_number, stray.duration_s) == (None, None, 2.0)
    assert rows[ABANDONED].duration_s == 1.5 and wav_complete(root / ABANDONED)
    assert rows[GONE].status == "missing"
    assert rows[BACK].status == "available"
    assert not (root / f"{ENCODED}.wav").exists() and (root / f"{ENCODED}.opus").exists()
    for path, content in planted["untouched"].items():
        assert path.read_bytes() == content, path

    clean = await cti(database_url, data, root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.splitlines()[-1] == "no orphans"


async def test_check_refuses_a_root_that_is_not_there(database_url: str, tmp_path: Path) -> None:
    result = await cti(database_url, tmp_path / "data", tmp_path / "nope")
    assert result.returncode == 2
    assert f"recordings root {tmp_path / 'nope'} is not a directory" in result.stderr
