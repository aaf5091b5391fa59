"""`make demo` (docker/devstack/demo.py) against the running devstack, for 55 s.

Run at a high call rate on its own HTTP port and its own PostgreSQL database, it must
tell the story: callers answered by the SIPp agents and stored, an order confirmed by
a confirmation call, the after-hours caller's voicemail as agent 1001's callback task,
live figures in the terminal, and pages that open with the tokens it printed. When it
exits nothing it started runs on, and Asterisk holds none of its calls or agents.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.conftest import REPO, Devstack
from tests.integration.conftest import CtiServe, free_port

pytestmark = pytest.mark.integration

DEMO = REPO / "docker" / "devstack" / "demo.py"
DURATION_S = 55
"""Time for the whole story, with room: a run of this seed has its confirmation done about
21 s after its first call, the voicemail's callback task at 30 s, three answered calls
ended by 39 s."""
AGENT_EXTS = ("1001", "1002", "1003")
#: the request each page makes with the token typed into its login box (cti/static/*.js)
PAGE_LOGIN = {
    "/agent": "/api/v1/desk/stats",
    "/wallboard": "/api/v1/queues",
    "/qa": "/api/v1/qa/scoresheets",
}
PAGE_LINE = re.compile(
    r"^  (?P<title>.+?)\s+(?P<url>http://127\.0\.0\.1:\d+(?P<path>/\w+))\s+token (?P<token>\S+)$"
)
LIVE_LINE = re.compile(
    r"^\[\d\d:\d\d:\d\d\] hotline: (?P<waiting>\d+) waiting.* \| agents (?P<available>\d+) "
    r"available, .* \| today offered (?P<offered>\d+), answered (?P<answered>\d+), "
    r"abandoned (?P<abandoned>\d+), SL "
)
AFTER_HOURS_CALL = re.compile(r"call  (?P<name>\S+) <(?P<phone>\d+)> -> 4008005678 ")
CJK = re.compile(r"[\u4e00-\u9fff]")


class Output:
    """The demo's terminal, line by line, read as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def join(self) -> None:
        self._thread.join(10)


def session_processes(sid: int) -> list[str]:
    """Every process of session ``sid`` (the demo's, started with start_new_session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        comm, _, rest = text.rpartition(")")
        fields = rest.split()  # state ppid pgrp session ...
        if int(fields[3]) == sid:
            found.append(f"{stat.parent.name} {comm.partition('(')[2]}")
    return found


def members() -> set[str]:
    return {
        m.group(0)
        for line in stack.asterisk_cli("queue show hotline").splitlines()
        if (m := re.search(r"PJSIP/\d+", line))
    }


def demo_channels() -> list[str]:
    prefixes = ("PJSIP/callers-", "PJSIP/customers-", *(f"PJSIP/{e}-" for e in AGENT_EXTS))
    return [
        line.split("!", 1)[0]
        for line in stack.asterisk_cli("core show channels concise").splitlines()
        if line.startswith(prefixes)
    ]


def pages_printed(out: Output) -> list[dict[str, str]] | None:
    if not any(line.startswith("Ctrl-C stops") for line in out.lines):
        return None
    return [m.groupdict() for line in out.lines if (m := PAGE_LINE.match(line))]


def get(serve: CtiServe, path: str, token: str, **params: Any) -> Any:
    r = serve.get(path, token, **params)
    assert r.status_code == 200, r.text
    return r.json()


def test_demo_tells_the_story(
    devstack: Devstack,
    pg_database: str,  # first: dropped after the services have stopped
    cti_serve: CtiServe,
    cti_env: dict[str, str],
    tmp_path: Path,
) -> None:
    members_before = members()
    channels_before = set(demo_channels())  # an earlier test's leftovers, if any
    port = free_port()
    cmd = [
        sys.executable, str(DEMO), "--rate", "20", "--duration", str(DURATION_S),
        "--confirm-every", "30", "--live-every", "3", "--seed", "5",
        "--http-port", str(port), "--database-url", pg_database,
        "--workdir", str(tmp_path / "demo"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,  # its session holds whatever it starts
    )
    out = Output(proc)
    try:
        pages = stack.wait_for(lambda: pages_printed(out) or proc.poll() is not None, 240, 0.5)
        assert isinstance(pages, list), out.text()
        # Every page opens, and its token passes the request the page logs in with.
        assert sorted(p["title"] for p in pages) == [
            "QA (recordings)", "agent desktop 1001", "agent desktop 1002",
            "agent desktop 1003", "wallboard",
        ]  # fmt: skip
        for page in pages:
            assert page["url"].startswith(f"http://127.0.0.1:{port}/")
            assert httpx.get(page["url"], timeout=10).status_code == 200, page
            login = httpx.get(
                f"http://127.0.0.1:{port}{PAGE_LOGIN[page['path']]}",
                headers={"Authorization": f"Bearer {page['token']}"},
                timeout=10,
            )
            assert login.status_code == 200, (page, login.text)
        rc = proc.wait(DURATION_S + 180)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the demo's own Ctrl-C path
            proc.wait(120)
        out.join()
    text = out.text()
    assert rc == 0, text
    assert not re.search(r"Traceback|failed:|could not read", text), text

    # Nothing it started runs on; Asterisk is left as the demo found it.
    assert session_processes(proc.pid) == [], text
    assert members() == members_before
    assert set(demo_channels()) <= channels_before

    # One line of live figures every few seconds, counting the calls as they came.
    live = [m for line in out.lines if (m := LIVE_LINE.match(line))]
    assert len(live) >= 5, text
    assert int(live[-1]["offered"]) > 0 and int(live[-1]["answered"]) > 0, text

    # What the demo's service stored, read back through the API with the printed tokens.
    cti_env["CTI_DATABASE_URL"] = pg_database
    cti_serve.start()
    tokens = {p["title"]: p["token"] for p in pages}
    calls = get(cti_serve, "/api/v1/calls", tokens["wallboard"], limit=500)["items"]
    answered = [
        c
        for c in calls
        if c["direction"] == "inbound" and c["outcome"] == "answered" and c["dnis"] == "4008001234"
    ]
    assert len(answered) >= 3, calls
    assert {c["agent"] for c in answered} <= {f"PJSIP/{e}" for e in AGENT_EXTS}
    assert all(CJK.search(c["caller_name"] or "") and c["talk_s"] > 0 for c in answered), answered

    # The shop's first confirmation call reached a customer who pressed 1.
    operator = cti_serve.token("calls:originate")
    confirmations = get(cti_serve, "/api/v1/confirmations", operator)["items"]
    assert "confirmed" in {c["status"] for c in confirmations}, confirmations

    # The after-hours caller left a message: a callback task, handed to agent 1001.
    m = next(m for line in out.lines if (m := AFTER_HOURS_CALL.search(line)))
    tasks = get(cti_serve, "/api/v1/tickets/callbacks", tokens["agent desktop 1001"])["items"]
    mine = [t for t in tasks if t["caller_number"] == m["phone"]]
    assert len(mine) == 1, tasks
    assert mine[0]["description"].startswith("客户语音留言（非工作时间）"), mine
    assert m["name"] in mine[0]["description"]
