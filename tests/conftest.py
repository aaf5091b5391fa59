"""Shared fixtures.

The real components (Asterisk, PostgreSQL, SIPp) come from the devstack in
docker/devstack. When ``CI=true`` a missing component fails the run; locally a
test that needs it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEVSTACK = REPO / "docker" / "devstack" / "devstack"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI, when a real component is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required component missing in CI: {reason}")
    pytest.skip(reason)


class Devstack:
    def __init__(self) -> None:
        self.started_here = False
        self.env: dict[str, str] = {}

    def run(self, *args: str, timeout: float = 900) -> str:
        proc = subprocess.run(
            [str(DEVSTACK), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"devstack {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc.stdout

    def ensure_up(self) -> None:
        status = subprocess.run([str(DEVSTACK), "status"], capture_output=True, check=False)
        if status.returncode != 0:
            self.run("start")
            self.started_here = True
        for line in self.run("env").splitlines():
            line = line.removeprefix("export ").strip()
            if "=" in line:
                key, _, value = line.partition("=")
                self.env[key] = value.strip().strip("'\"")


@pytest.fixture(scope="session")
def devstack() -> Iterator[Devstack]:
    need(DEVSTACK.exists(), "docker/devstack/devstack is missing")
    need(os.geteuid() == 0, "the devstack needs root (chroot, mounts)")
    need(shutil.which("sipp") is not None, "SIPp (Debian package sip-tester) is not installed")
    need(Path("/usr/lib/postgresql").exists(), "PostgreSQL is not installed")
    stack = Devstack()
    stack.ensure_up()
    yield stack
    if stack.started_here and os.environ.get("CTI_KEEP_DEVSTACK") != "1":
        stack.run("stop")


@pytest.fixture(scope="session")
def postgres_url(devstack: Devstack) -> str:
    url = devstack.env.get("CTI_TEST_POSTGRES_URL", "")
    need(bool(url), "devstack did not report CTI_TEST_POSTGRES_URL")
    return url


async def _create_pg_database(admin_url: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    name = f"cti_test_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def _drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        # A just-closed pool connection (or autovacuum) may linger for a moment.
        for _ in range(25):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                return
            except asyncpg.exceptions.ObjectInUseError:
                await asyncio.sleep(0.2)
        warnings.warn(f"test database {name} left behind: still in use", stacklevel=1)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, migrated database: SQLite and PostgreSQL, each test runs on both."""
    from cti.db.migrate import upgrade_async

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cti.sqlite3'}"
        await upgrade_async(url)
        yield url
        return
    admin_url: str = request.getfixturevalue("postgres_url")
    url = await _create_pg_database(admin_url)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await _drop_pg_database(admin_url, url)
