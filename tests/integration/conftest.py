"""Fixtures for tests against the real stack: Asterisk 22, PostgreSQL, SIPp, `cti serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, Devstack


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
