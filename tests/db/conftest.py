from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api import create_http_app
from cti.app import running
from cti.auth.tokens import create_token
from cti.container import Container
from cti.db.engine import create_engine, session_factory
from cti.http.server import server_config
from cti.jobs.config import JobSettings
from cti.settings import Settings

UNREACHABLE = "postgresql+asyncpg://cti:secret@127.0.0.1:9/cti"
"""Nothing listens on the discard port: the driver's connect is refused at once."""


@pytest.fixture(autouse=True)
def _no_devstack_recordings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``eval "$(devstack env)"`` exports CTI_RECORDINGS_LOCAL_ROOT, the devstack's live
    recordings: a container here would take it as its root, and a test that removes its
    root (test_recordings_retention) deleted every recording of the shared devstack."""
    monkeypatch.delenv("CTI_RECORDINGS_LOCAL_ROOT", raising=False)


@pytest.fixture
async def container(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Container]:
    # A recordings root that exists, or /readyz says "not ready" for it. It is this test's
    # own: an exported devstack env would make it the shared Asterisk root's
    # (CTI_RECORDINGS_LOCAL_ROOT), which a test removing its root would remove.
    monkeypatch.delenv("CTI_RECORDINGS_LOCAL_ROOT", raising=False)
    (tmp_path / "recordings").mkdir(exist_ok=True)
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        ami_enabled=False,
        agi_enabled=False,
        recordings_root=str(tmp_path / "recordings"),
    )
    async with running(settings, migrate=False) as c:
        yield c


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_http_app(container.http_services())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as c:
        yield c


@pytest.fixture
def make_token(container: Container):  # type: ignore[no-untyped-def]
    async def make(*scopes: str, agent: str | None = None) -> str:
        async with container.sessions() as session, session.begin():
            issued = await create_token(session, "test", scopes, agent, now=container.clock.now())
        return issued.token

    return make


def free_port() -> int:
    """A free TCP port on loopback for a test server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def end_every_connection(database_url: str) -> int:
    """What a PostgreSQL restart or failover does to the service: the server terminates
    every other backend of the test's database. Returns how many it ended."""
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        ended: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return ended


@contextlib.asynccontextmanager
async def serve(container: Container, **settings: Any) -> AsyncIterator[str]:
    """The app on uvicorn as ``cti serve`` configures it (its limits, its WebSocket
    options), on a free loopback port on the test's loop; ``settings`` override the
    container's. Yields its ws:// base URL."""
    chosen = container.settings.model_copy(
        update={"http_host": "127.0.0.1", "http_port": free_port(), **settings}
    )
    config = server_config(
        create_http_app(container.http_services()), chosen, lifespan="off", log_level="warning"
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{chosen.http_port}"
    finally:
        srv.should_exit = True
        await task


@pytest.fixture
async def server(container: Container) -> AsyncIterator[str]:
    """The service's HTTP server (:func:`serve`) with the container's settings."""
    async with serve(container) as base:
        yield base


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the test's database, without the rest of the service."""
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def down() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a database that cannot be reached."""
    engine = create_engine(UNREACHABLE)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def offline(data_dir: Path, database_url: str) -> Container:
    """The service's parts on ``data_dir`` without Asterisk; nothing started."""
    settings = Settings(
        data_dir=data_dir, database_url=database_url, ami_enabled=False, agi_enabled=False
    )
    return Container(settings, job_settings=JobSettings(db_timeout_s=1.0))


@contextlib.asynccontextmanager
async def restarted_after_outage(
    data_dir: Path, database_url: str, event: object
) -> AsyncIterator[Container]:
    """``event`` reaches the bus while the database is down (the AGI call still ends
    normally: its job waits in the spool); then the service restarts on the same data
    dir with the database back and runs its jobs once. Yields the restarted service."""
    was_down = offline(data_dir, UNREACHABLE)
    try:
        await was_down.bus.deliver(event)  # does not raise
        assert was_down.spool.pending() == 1
    finally:
        await was_down.engine.dispose()

    up = offline(data_dir, database_url)
    try:
        await up.jobs.run_once()
        assert up.spool.pending() == 0
        yield up
    finally:
        await up.engine.dispose()
