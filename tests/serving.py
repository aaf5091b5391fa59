"""``cti serve`` in a subprocess, HTTP only on embedded SQLite: the server as an operator
runs it (its uvicorn config, its limits), for tests that need no Asterisk."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServe:
    """Started by ``with``; stopped by its own PID."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
        self.env.update(
            PYTHONPATH=str(REPO),
            CTI_DATA_DIR=str(data_dir),
            CTI_AMI_ENABLED="false",
            CTI_AGI_ENABLED="false",
            CTI_HTTP_PORT=str(self.port),
            **env,
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cti", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    def token(self, *scopes: str, agent: str | None = None) -> str:
        args = ["token", "create", "--name", "test"]
        for scope in scopes:
            args += ["--scope", scope]
        if agent:
            args += ["--agent", agent]
        return self.cli(*args)

    def __enter__(self) -> LocalServe:
        self.cli("db", "upgrade")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cti", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):  # bounded wait for the port
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert self.proc.poll() is None, "cti serve exited"
                time.sleep(0.1)
        raise AssertionError("cti serve did not listen")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=20)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; the socket's timeout fails the test."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
