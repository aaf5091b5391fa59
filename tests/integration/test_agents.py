"""Agents through a real `cti serve` against the devstack's Asterisk 22.

Login/pause/unpause/logout through the API change what Asterisk reports (its
CLI ``queue show hotline`` and the AMI ``QueueStatus`` the CTI resyncs from),
and ``GET /api/v1/agents`` follows, including a real call and its wrap-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.integration.conftest import CtiServe

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_queue(devstack: object) -> Iterator[None]:
    stack.devstack("reset-queues")
    yield
    stack.cleanup()
    stack.devstack("reset-queues")


def post(serve: CtiServe, path: str, token: str, body: Any = None) -> httpx.Response:
    return httpx.post(
        f"{serve.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )


def put(serve: CtiServe, path: str, token: str, body: Any) -> httpx.Response:
    return httpx.put(
        f"{serve.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )


def member_line(ext: str) -> str | None:
    """The ``queue show hotline`` line of member ``ext``, or None if not a member."""
    for line in stack.asterisk_cli("queue show hotline").splitlines():
        if re.search(rf"\bPJSIP/{ext}\b", line):
            return line
    return None


def agent(serve: CtiServe, token: str, ext: str) -> dict[str, Any]:
    r = serve.get(f"/api/v1/agents/{ext}", token)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def listed(serve: CtiServe, token: str) -> dict[str, dict[str, Any]]:
    r = serve.get("/api/v1/agents", token)
    assert r.status_code == 200, r.text
    return {a["extension"]: a for a in r.json()["items"]}


def test_login_pause_unpause_logout_drive_asterisk(cti_serve: CtiServe, clean_queue: None) -> None:
    cti_serve.start()
    admin = cti_serve.token("agents:write", "stats:read")
    desk = cti_serve.token("agent", agent="1001")
    reader = cti_serve.token("stats:read")
    r = put(cti_serve, "/api/v1/agents/1001", admin, {"name": "张伟", "skills": ["hotline"]})
    assert r.status_code == 201, r.text
    assert member_line("1001") is None
    assert listed(cti_serve, reader)["1001"]["state"] == "logged_out"

    # the agent desktop logs itself in
    r = post(cti_serve, "/api/v1/agents/1001/login", desk)
    assert r.status_code == 200, r.text
    line = stack.wait_for(lambda: member_line("1001"), timeout=10)
    assert "1001 (PJSIP/1001)" in line and "(dynamic)" in line and "paused" not in line
    stack.wait_for(lambda: listed(cti_serve, reader)["1001"]["state"] == "available", 10)
    a = agent(cti_serve, reader, "1001")
    assert [q["queue"] for q in a["queues"]] == ["hotline"]
    assert a["queues"][0]["logged_in_since"] is not None

    # a bad reason never reaches Asterisk
    r = post(cti_serve, "/api/v1/agents/1001/pause", desk, {"reason": "nap"})
    assert r.status_code == 422
    assert "paused" not in (member_line("1001") or "")

    r = post(cti_serve, "/api/v1/agents/1001/pause", desk, {"reason": "lunch"})
    assert r.status_code == 200, r.text
    stack.wait_for(lambda: "paused:lunch" in (member_line("1001") or ""), 10)
    stack.wait_for(lambda: agent(cti_serve, reader, "1001")["state"] == "paused", 10)
    a = agent(cti_serve, reader, "1001")
    assert a["paused_reason"] == "lunch" and a["paused_since"] and not a["available"]

    # another agent's desktop may not touch 1001
    other = cti_serve.token("agent", agent="1002")
    assert post(cti_serve, "/api/v1/agents/1001/unpause", other).status_code == 403
    assert "paused:lunch" in (member_line("1001") or "")

    r = post(cti_serve, "/api/v1/agents/1001/unpause", desk)
    assert r.status_code == 200, r.text
    stack.wait_for(lambda: "paused" not in (member_line("1001") or "paused"), 10)
    stack.wait_for(lambda: agent(cti_serve, reader, "1001")["state"] == "available", 10)

    r = post(cti_serve, "/api/v1/agents/1001/logout", desk)
    assert r.status_code == 200, r.text
    stack.wait_for(lambda: member_line("1001") is None, 10)
    stack.wait_for(lambda: agent(cti_serve, reader, "1001")["state"] == "logged_out", 10)


def test_state_survives_a_restart_through_resync(cti_serve: CtiServe, clean_queue: None) -> None:
    """Paused while the CTI is down: after the restart QueueStatus tells it so."""
    cti_serve.start()
    admin = cti_serve.token("agents:write", "stats:read")
    put(cti_serve, "/api/v1/agents/1002", admin, {"name": "李娜", "skills": ["hotline"]})
    assert post(cti_serve, "/api/v1/agents/1002/login", admin).status_code == 200
    stack.wait_for(lambda: member_line("1002"), timeout=10)
    cti_serve.stop()
    stack.asterisk_cli("queue pause member PJSIP/1002 queue hotline reason training")
    cti_serve.start()
    stack.wait_for(lambda: agent(cti_serve, admin, "1002")["state"] == "paused", 15)
    a = agent(cti_serve, admin, "1002")
    assert a["paused_reason"] == "training"
    assert a["queues"][0]["paused"] is True


def test_real_call_then_wrap_up(cti_serve: CtiServe, clean_queue: None) -> None:
    """A queue call to 1001: on_call, then wrap_up for its 4 s (Asterisk waits it out too)."""
    cti_serve.start()
    admin = cti_serve.token("agents:write", "stats:read")
    put(
        cti_serve,
        "/api/v1/agents/1001",
        admin,
        {"name": "张伟", "skills": ["hotline"], "wrapup_s": 4},
    )
    stack.start_sipp_agent("1001", "agent_answer.xml")
    assert post(cti_serve, "/api/v1/agents/1001/login", admin).status_code == 200
    stack.wait_for(lambda: agent(cti_serve, admin, "1001")["available"], 15)

    caller = stack.run_sipp_caller("13800138000", "张伟", wait=False)
    stack.wait_for(lambda: agent(cti_serve, admin, "1001")["state"] == "on_call", 30, 0.1)
    # app_queue's count of calls taken (QueueMemberStatus) may follow the wrap-up's start.
    wrap = stack.wait_for(
        lambda: (
            (a := agent(cti_serve, admin, "1001"))["state"] == "wrap_up"
            and a["calls_taken"] == 1
            and a
        ),
        40,
        0.1,
    )
    assert wrap["wrap_up_until"] and not wrap["available"]
    assert wrap["effective_wrapup_s"] == 4
    stack.wait_for(lambda: agent(cti_serve, admin, "1001")["available"], 10, 0.2)
    caller.wait(timeout=30)  # type: ignore[union-attr]
    assert post(cti_serve, "/api/v1/agents/1001/logout", admin).status_code == 200
