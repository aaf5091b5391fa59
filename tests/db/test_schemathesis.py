"""Schemathesis over the whole OpenAPI, as an attacker would run it, on SQLite and PostgreSQL.

The service runs as in production (uvicorn on a loopback port, a real container with
AMI and AGI switched off) in a thread with its own event loop, because schemathesis
and Hypothesis drive it synchronously. Every operation gets its documented examples,
schemathesis's boundary cases (coverage phase: out-of-range values, wrong types,
undeclared methods, missing headers) and a few fuzzed positive and negative cases,
sent with each of two tokens: a supervisor token carrying every scope but ``agent``,
and an agent token. The checks: no 5xx, only documented statuses and content types,
bodies that match their schema, invalid input refused, credentials enforced.

Deterministic: a fixed seed, derandomised generation, no example database, no timed
assertions; the only bounded waits are for the server to start and stop.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import uvicorn

from cti.api import create_http_app
from cti.app import running
from cti.auth.scopes import Scope
from cti.auth.tokens import create_token
from cti.container import Container
from cti.settings import Settings

# The same throw-away PostgreSQL databases as the `database_url` fixture, made once per
# module here: one server serves every operation.
from tests.conftest import _create_pg_database as create_pg_database
from tests.conftest import _drop_pg_database as drop_pg_database

START_TIMEOUT_S = 60.0

# What a response must satisfy; the rest of schemathesis's checks are off.
CHECKS = [
    "not_a_server_error",  # no 5xx
    "status_code_conformance",  # only documented statuses
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",  # schema-violating input is refused with a 4xx
    "ignored_auth",  # without a token, or with a wrong one: 401
    "unsupported_method",  # an undeclared method: 405 with Allow
    "missing_required_header",
]


@dataclass
class ApiServer:
    """``cti serve``'s HTTP side on 127.0.0.1, in a thread with its own event loop."""

    database_url: str
    data_dir: Path
    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="api-under-test", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the API server did not start")
        if self._error is not None:
            raise RuntimeError("the API server failed to start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # A recordings root that exists, or /readyz says "not ready" (503) for it.
        recordings = Path(self.data_dir) / "recordings"
        recordings.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            ami_enabled=False,
            agi_enabled=False,
            recordings_root=str(recordings),
            # Schemathesis sends wrong tokens on purpose (ignored_auth) to every operation,
            # all from 127.0.0.1: the per-address limiter (tested on its own) would answer
            # 429 to the later operations instead of what they are checked for.
            auth_failure_burst=100_000,
        )
        async with running(settings, migrate=False) as container:
            supervisor = [s.value for s in Scope if s is not Scope.AGENT]
            async with container.sessions() as session, session.begin():
                now = container.clock.now()
                issued = await create_token(session, "fuzz-supervisor", supervisor, None, now=now)
                self.tokens["supervisor"] = issued.token
                issued = await create_token(session, "fuzz-agent", ["agent"], "1001", now=now)
                self.tokens["agent"] = issued.token
            config = uvicorn.Config(
                create_http_app(container.http_services()),
                host="127.0.0.1",
                port=0,
                lifespan="off",
                log_config=None,
                log_level="warning",
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()
            server.should_exit = True
            await task


async def _new_database(kind: str, data_dir: Path, admin_url: str | None) -> str:
    from cti.db.migrate import upgrade_async

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'cti.sqlite3'}"
    else:
        assert admin_url is not None
        url = await create_pg_database(admin_url)
    await upgrade_async(url)
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    admin_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    url = asyncio.run(_new_database(request.param, data_dir, admin_url))
    server = ApiServer(url, data_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if admin_url is not None:
            asyncio.run(drop_pg_database(admin_url, url))


def _openapi() -> dict[str, Any]:
    # The document depends on the routes only; the services are built (no I/O) and dropped.
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), ami_enabled=False, agi_enabled=False)
        return create_http_app(Container(settings).http_services()).openapi()


OPENAPI = _openapi()
# Bounded and reproducible: the same cases in the same order on every run.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 14,
        "generation": {
            "mode": "all",  # positive and negative (schema-violating) data
            "max-examples": 10,
            "deterministic": True,
            "database": "none",
            "no-shrink": True,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False} | {name: {"enabled": True} for name in CHECKS},
    }
)
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG)


def test_the_fuzzed_document_is_the_one_served(api_server: ApiServer) -> None:
    served = httpx.get(f"{api_server.base_url}/openapi.json", timeout=30)
    assert served.json() == OPENAPI


@schema.parametrize()
@hypothesis.settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_the_api_survives_schemathesis(case: schemathesis.Case, api_server: ApiServer) -> None:
    # One report per operation: schemathesis names each failed check, the response and
    # a curl command that reproduces it (with the token filtered out).
    for token in api_server.tokens.values():
        case.call_and_validate(
            base_url=api_server.base_url,
            headers={"Authorization": f"Bearer {token}"},
        )
