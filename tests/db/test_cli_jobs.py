"""`cti jobs list` / `cti jobs retry` as an operator uses them, on both databases."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cti.db.engine import create_engine, session_factory
from cti.jobs.service import Backoff, enqueue, fail, lease
from cti.jobs.spool import spool_dir

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def cti(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env |= {"CTI_DATABASE_URL": database_url, "CTI_DATA_DIR": str(data_dir)}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cti", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def seed(database_url: str) -> tuple[int, int]:
    """A dead webhook job (with its error) and a queued callback job."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            dead, _ = await enqueue(
                session, kind="webhook", key="wh-1", payload={}, now=T0, max_attempts=1
            )
            queued, _ = await enqueue(
                session, kind="tickets.callback", key="callback:1.1", payload={}, now=T0
            )
            await lease(session, owner="w", now=T0, lease_for=Backoff().delay(1), kinds={"webhook"})
            await fail(
                session,
                job_id=dead.id,
                owner="w",
                error="ConnectError: shop backend did not answer",
                now=T0,
                backoff=Backoff(),
            )
            return dead.id, queued.id
    finally:
        await engine.dispose()


async def test_jobs_are_listed_with_the_error_of_a_failed_one(
    database_url: str, tmp_path: Path
) -> None:
    dead, queued = await seed(database_url)
    shown = await cti(database_url, tmp_path, "jobs", "list")
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert header == "id\tkind\tstatus\tattempts\trun_after\tkey\tlast_error"
    assert [r.split("\t")[:4] for r in rows] == [
        [str(queued), "tickets.callback", "queued", "0/8"],
        [str(dead), "webhook", "dead", "1/1"],
    ]
    assert rows[1].endswith("\twh-1\tConnectError: shop backend did not answer")

    only_dead = await cti(database_url, tmp_path, "jobs", "list", "--status", "dead", "--json")
    assert only_dead.returncode == 0, only_dead.stderr
    [line] = only_dead.stdout.splitlines()
    row = json.loads(line)
    assert row["id"] == dead and row["last_error"] == "ConnectError: shop backend did not answer"

    by_kind = await cti(database_url, tmp_path, "jobs", "list", "--kind", "tickets.callback")
    assert [r.split("\t")[0] for r in by_kind.stdout.splitlines()[1:]] == [str(queued)]

    bad = await cti(database_url, tmp_path, "jobs", "list", "--status", "lost")
    assert bad.returncode == 2


async def test_a_dead_job_is_retried_and_spooled_jobs_are_mentioned(
    database_url: str, tmp_path: Path
) -> None:
    dead, queued = await seed(database_url)
    assert (await cti(database_url, tmp_path, "jobs", "retry", str(queued))).returncode == 2
    retried = await cti(database_url, tmp_path, "jobs", "retry", str(dead))
    assert retried.returncode == 0, retried.stderr
    listed = await cti(database_url, tmp_path, "jobs", "list", "--status", "queued", "--json")
    assert sorted(json.loads(x)["id"] for x in listed.stdout.splitlines()) == sorted([dead, queued])
    assert "wait in" not in listed.stderr

    folder = spool_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-a.job").write_text("{}")
    listed = await cti(database_url, tmp_path, "jobs", "list")
    assert "1 job(s) wait in" in listed.stderr
