"""Fixtures for tests against the real stack: Asterisk 22, PostgreSQL, SIPp, `cti serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cti_api
import cti_stack
import httpx
import pytest

from cti.webhooks.signing import verify
from tests.conftest import REPO, Devstack


@pytest.fixture(autouse=True)
def no_call_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the devstack, every call it left in Asterisk is hung up.

    test_routing's agent kept busy by ``channel originate ... Wait 25`` outlived it and
    made the first call of the next live-statistics batch ring a busy agent (CI, stop
    18): one test's calls are never another's.
    """
    yield
    if "devstack" in request.fixturenames:
        left = cti_stack.hang_up_every_call()
        if left:
            print(f"hung up calls left by {request.node.name}: {left}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CtiServe:
    """A `cti serve` process of our own, started and stopped by PID."""

    env: dict[str, str]
    log_path: Path
    http_port: int
    proc: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def cti(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "cti", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout.strip()

    def token(self, *scopes: str, agent: str | None = None) -> str:
        key = ",".join(sorted(scopes)) + f"@{agent}"
        if key not in self.tokens:
            args = ["token", "create", "--name", f"it-{len(self.tokens)}"]
            for s in scopes:
                args += ["--scope", s]
            if agent:
                args += ["--agent", agent]
            if {"orders:write", "calls:originate"} & set(scopes):
                args += ["--all-shops"]  # the tests push orders of several shops
            self.tokens[key] = self.cti(*args)
        return self.tokens[key]

    def start(self, wait_ready: bool = True, timeout: float = 60) -> None:
        assert self.proc is None
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cti", "serve"], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cti serve exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.base_url}/readyz", timeout=2)
                last = r.text
                if r.status_code == 200 or not wait_ready:
                    return
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"cti serve not ready in {timeout}s: {last}")

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc = None
        return rc

    def kill(self) -> None:
        """``kill -9``: the service dies at once, mid-work, with no shutdown of any kind."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def get(self, path: str, token: str, **params: object) -> httpx.Response:
        return httpx.get(
            f"{self.base_url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            params={k: v for k, v in params.items() if v is not None},  # type: ignore[misc]
            timeout=10,
        )


@pytest.fixture
def cti_env(devstack: Devstack, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "CTI_DATA_DIR": str(tmp_path / "data"),
            "CTI_AMI_HOST": devstack.env.get("CTI_AMI_HOST", "127.0.0.1"),
            "CTI_AMI_PORT": devstack.env.get("CTI_AMI_PORT", "5038"),
            "CTI_AMI_USERNAME": devstack.env.get("CTI_AMI_USERNAME", "cti"),
            "CTI_AMI_SECRET": devstack.env.get("CTI_AMI_SECRET", ""),
            "CTI_AGI_HOST": "127.0.0.1",
            "CTI_AGI_PORT": "4573",
            "CTI_HTTP_PORT": str(free_port()),
            "CTI_AMI_PING_INTERVAL": "2",
            "CTI_AMI_PING_TIMEOUT": "2",
            "CTI_AMI_RECONNECT_MAX": "2",
            # Asterisk writes recordings in its chroot; the service reads them through it.
            "CTI_RECORDINGS_ROOT": devstack.env["CTI_RECORDINGS_ROOT"],
            "CTI_RECORDINGS_LOCAL_ROOT": devstack.env["CTI_RECORDINGS_LOCAL_ROOT"],
            "CTI_RECORDINGS_SETTLE_S": "1",
            "CTI_JOBS_POLL_INTERVAL": "0.5",
            # The tests' webhook receivers listen on 127.0.0.1, refused by default (SSRF).
            "CTI_WEBHOOKS_ALLOW_PRIVATE": "true",
        }
    )
    return env


@pytest.fixture
def cti_serve(cti_env: dict[str, str], tmp_path: Path) -> Iterator[CtiServe]:
    serve = CtiServe(
        env=cti_env, log_path=tmp_path / "cti-serve.log", http_port=int(cti_env["CTI_HTTP_PORT"])
    )
    yield serve
    if serve.proc is not None:
        serve.stop()


@pytest.fixture
def agent_1001(devstack: Devstack) -> Iterator[None]:
    """Agent 1001 logged into the hotline queue with a SIPp phone that answers."""
    import cti_stack as stack

    stack.devstack("reset-queues")
    stack.add_queue_member("1001")
    phone = stack.start_sipp_agent("1001", "agent_answer.xml")
    yield
    stack._stop(phone)
    stack.remove_queue_member("1001")


# --- confirmation calls (issue 16): SIPp customers, a shop's webhook receiver ---------------

#: Settings that make confirmation calls quick enough for a test.
CONFIRM_ENV = {
    "CTI_CONFIRM_DIAL_TEMPLATE": cti_stack.CONFIRM_DIAL_TEMPLATE,
    "CTI_CONFIRM_RING_TIMEOUT_S": "6",
    "CTI_CONFIRM_RETRY_BASE_S": "2",
    "CTI_CONFIRM_RETRY_FACTOR": "1",
    "CTI_WEBHOOKS_BACKOFF_BASE_S": "1",
    "CTI_WEBHOOKS_BACKOFF_FACTOR": "1",
}


class Receiver:
    """The shop's webhook endpoint: answers 500 to the first delivery (when asked), then 200."""

    def __init__(self, fail_first: bool = True) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append((dict(self.headers), body))
                    status = 500 if receiver.fail_first else 200
                    receiver.fail_first = False
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cti/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, secrets: list[str]) -> list[dict[str, Any]]:
        """Every body received so far, each checked against the shop's signing secrets."""
        with self._lock:
            received = list(self.received)
        out = []
        for headers, body in received:
            sig = {k.lower(): v for k, v in headers.items()}["x-cti-signature"]
            assert verify(sig, body, secrets, time.time()), "a webhook with a bad signature"
            out.append(json.loads(body))
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def customers(devstack: Devstack, tmp_path: Path) -> Iterator[Path]:
    """The SIPp UAS answering as every customer (sipp/customer.xml), and agent 1001's phone.

    Yields the folder of the customers' SIPp message log (see :func:`invites`).
    """
    import cti_stack as stack

    log_dir = tmp_path / "customers"
    log_dir.mkdir()
    # Calls left over by earlier tests (a SIPp ended by signal leaves its channel up)
    # would keep agent 1001 busy.
    stack.asterisk_cli("channel request hangup all")
    proc = stack.start_sipp_customers(log_dir=log_dir)
    stack.devstack("reset-queues")
    stack.add_queue_member("1001")
    agent = stack.start_sipp_agent("1001", "agent_talks.xml")
    yield log_dir
    stack._stop(agent)
    stack._stop(proc)
    # A SIPp ended by a signal sends no BYE: its calls (the customer put through to
    # agent 1001) would stay up and keep the agent busy for the tests after this one.
    stack.asterisk_cli("channel request hangup all")
    stack.remove_queue_member("1001")


def api(serve: CtiServe, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return httpx.request(method, f"{serve.base_url}{path}", headers=headers, timeout=30, **kw)


def invites(log_dir: Path) -> dict[str, int]:
    """Calls the customers' SIPp was offered, per dialled number: distinct INVITE Call-IDs
    (a retransmitted INVITE is the same call; a second dial is a new Call-ID)."""
    text = (log_dir / "messages.log").read_text(errors="replace")
    calls: dict[str, set[str]] = {}
    number: str | None = None
    for line in text.splitlines():
        if line.startswith("INVITE sip:"):
            number = line[len("INVITE sip:") :].partition("@")[0]
        elif number is not None and line.lower().startswith(("call-id:", "i:")):
            calls.setdefault(number, set()).add(line.partition(":")[2].strip())
            number = None
        elif not line.strip():
            number = None  # end of the INVITE's headers
    return {n: len(ids) for n, ids in calls.items()}


def open_shop(serve: CtiServe, shop: str, webhook_url: str, max_concurrent: int) -> tuple[str, str]:
    """Create ``shop`` (open all day) and a shop-bound token; return (token, signing secret)."""
    operator = serve.cti(
        "token", "create", "--name", f"ops-{shop}", "--scope", "calls:originate", "--all-shops"
    )
    secret = cti_api.open_shop(
        cti_api.Api(serve.base_url),
        operator,
        shop,
        webhook_url=webhook_url,
        max_concurrent=max_concurrent,
    )
    assert secret is not None, f"shop {shop} existed already"
    # The shop backend pushes its orders and asks for their confirmation calls.
    token = serve.cti(
        "token", "create", "--name", shop, "--scope", "calls:originate",
        "--scope", "orders:write", "--shop", shop,
    )  # fmt: skip
    return token, secret


def push_order(serve: CtiServe, token: str, shop: str, order_id: str, phone: str) -> None:
    """The shop pushes an order of ``phone``'s customer (a confirmation needs its order)."""
    at = datetime(2026, 12, 5, 10, tzinfo=timezone(timedelta(hours=8)))
    order = cti_api.order(shop, phone, f"顾客{order_id[-2:]}", amount="2300.50", at=at)
    cti_api.put_order(cti_api.Api(serve.base_url), token, order_id, order)


def request_confirmation(
    serve: CtiServe,
    token: str,
    order_id: str,
    phone: str,
    max_attempts: int = 1,
    shop: str = "shop-a",
) -> str:
    push_order(serve, token, shop, order_id, phone)
    return cti_api.request_confirmation(
        cti_api.Api(serve.base_url), token, order_id, phone, max_attempts=max_attempts
    )


def confirmation(serve: CtiServe, token: str, cid: str) -> dict[str, Any]:
    r = api(serve, "GET", f"/api/v1/confirmations/{cid}", token)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


class AgentDesk:
    """An agent's desktop: ``WS /ws/agent`` logged in with the agent's token, every frame kept."""

    def __init__(self, serve: CtiServe, token: str) -> None:
        from websockets.sync.client import ClientConnection

        self.frames: list[dict[str, Any]] = []
        self._url = f"ws://127.0.0.1:{serve.http_port}/ws/agent"
        self._token = token
        self._ws: ClientConnection | None = None
        self._connected = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._connected.wait(10) or self._ws is None:
            raise RuntimeError(f"agent desktop could not connect: {self._error}")

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(self._url) as ws:
                ws.send(json.dumps({"token": self._token}))  # first message, never the URL
                self._ws = ws
                self._connected.set()
                for message in ws:
                    self.frames.append(json.loads(message))
        except ConnectionClosed:
            return
        except OSError as exc:
            self._error = exc
            self._connected.set()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(5)


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database of the devstack's (``cti serve`` migrates it)."""
    import asyncio

    from tests.conftest import _create_pg_database, _drop_pg_database

    url = asyncio.run(_create_pg_database(postgres_url))
    yield url
    asyncio.run(_drop_pg_database(postgres_url, url))
