"""Shared fixtures.

The real components (Asterisk, PostgreSQL, SIPp) come from the devstack in
docker/devstack. When ``CI=true`` a missing component fails the run; locally a
test that needs it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import uuid
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parent.parent
DEVSTACK = REPO / "docker" / "devstack" / "devstack"
IN_CI = os.environ.get("CI", "").lower() == "true"
T = TypeVar("T")


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


async def _admin_execute(admin_url: str, sql: str) -> bool:
    """Run ``sql`` on the admin database; False if a database it names stayed in use (a
    just-closed pool connection, or autovacuum, may linger for a moment)."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for _ in range(25):
            try:
                await conn.execute(sql)
                return True
            except asyncpg.exceptions.ObjectInUseError:
                await asyncio.sleep(0.2)
        return False
    finally:
        await conn.close()


async def _create_pg_database(admin_url: str, template: str | None = None) -> str:
    """A new database of the devstack's PostgreSQL: empty, or a copy of ``template``'s."""
    name = f"cti_test_{uuid.uuid4().hex[:10]}"
    sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    if not await _admin_execute(admin_url, sql):
        raise RuntimeError(f"template database {template} still in use")
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def _drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    if not await _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}"'):
        warnings.warn(f"test database {name} left behind: still in use", stacklevel=1)


def _run_apart(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on an event loop of its own, in a thread: a session fixture
    is first set up from within a test's running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated once for the session; :func:`database_url` copies it."""
    from cti.db.migrate import upgrade_async

    path = tmp_path_factory.mktemp("migrated") / "cti.sqlite3"
    _run_apart(upgrade_async(f"sqlite+aiosqlite:///{path}"))
    return path


class PgDatabases:
    """Copies of a migrated template database, each test's own: the next copy is made, and
    the last one dropped, in a thread of their own while a test runs."""

    def __init__(self, admin_url: str, template_url: str) -> None:
        self._admin_url = admin_url
        self._template_url = template_url
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="pg-databases")
        self._next: Future[str] | None = None
        self._pending: list[Future[None]] = []

    def _copy(self) -> Future[str]:
        template = self._template_url.rpartition("/")[2]
        return self._worker.submit(asyncio.run, _create_pg_database(self._admin_url, template))

    async def take(self) -> str:
        """A new copy (the one made ahead, when there is one); the next is begun."""
        made = self._next or self._copy()
        self._next = self._copy()
        return await asyncio.wrap_future(made)

    def drop(self, url: str) -> None:
        self._pending.append(
            self._worker.submit(asyncio.run, _drop_pg_database(self._admin_url, url))
        )

    def close(self) -> None:
        if self._next is not None:
            self.drop(self._next.result())
        self._worker.shutdown(wait=True)
        for dropped in self._pending:
            dropped.result()


@pytest.fixture(scope="session")
def pg_databases(postgres_url: str) -> Iterator[PgDatabases]:
    """PostgreSQL databases copied from one migrated once for the session (``CREATE
    DATABASE ... TEMPLATE``; the template is never connected to again)."""
    from cti.db.migrate import upgrade_async

    url = _run_apart(_create_pg_database(postgres_url))
    try:
        _run_apart(upgrade_async(url))
        databases = PgDatabases(postgres_url, url)
        try:
            yield databases
        finally:
            databases.close()
    finally:
        _run_apart(_drop_pg_database(postgres_url, url))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, migrated database: SQLite and PostgreSQL, each test runs on both.

    Each test has a database of its own, a copy of one the session migrated once (the
    same tables and rows as migrating it anew, without running every migration per test).
    """
    if request.param == "sqlite":
        path = tmp_path / "cti.sqlite3"
        template: Path = request.getfixturevalue("migrated_sqlite")
        src, dst = sqlite3.connect(template), sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        yield f"sqlite+aiosqlite:///{path}"
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = await databases.take()
    try:
        yield url
    finally:
        databases.drop(url)
