"""Issue 17 item 7 with real calls: a caller who stays after the agent hangs up rates the call.

The agent's phone (agent_hangs_up_4s.xml) answers, talks 4 s and hangs up; the
caller (caller_rates_4.xml) stays on the line, presses 4 during the question and
waits for Asterisk's BYE. The call record shows CSAT 4, and so do the agent's own
figures. With the hotline's survey switched off the same caller hears nothing:
the call ends when the agent hangs up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import cti_stack as stack
import pytest

from tests.conftest import Devstack
from tests.integration.conftest import CtiServe


@pytest.fixture
def agent_hangs_up(devstack: Devstack) -> Iterator[None]:
    stack.devstack("reset-queues")
    stack.reset_logs()
    stack.add_queue_member("1001")
    stack.start_sipp_agent("1001", "agent_hangs_up_4s.xml")
    # The phone is free (no call of an earlier test still on it) before the caller dials.
    stack.wait_for(lambda: _member_free("1001"), timeout=60)
    yield
    stack.cleanup()
    stack.devstack("reset-queues")


def _member_free(ext: str) -> bool:
    lines = stack.asterisk_cli("queue show hotline").splitlines()
    return any(f"(PJSIP/{ext})" in ln and "(Not in use)" in ln for ln in lines)


def finished(serve: CtiServe, token: str, number: str) -> list[dict[str, Any]]:
    items = serve.get("/api/v1/calls", token, caller=number).json()["items"]
    return [c for c in items if c["caller_number"] == number]


def test_a_caller_who_presses_4_after_the_call_rates_it_4(
    cti_serve: CtiServe, agent_hangs_up: None
) -> None:
    cti_serve.start()
    stats = cti_serve.token("stats:read")
    desk = cti_serve.token("agent", agent="1001")

    result = stack.run_sipp_caller(
        "13900139000", "王芳", scenario="caller_rates_4.xml", timeout=120
    )
    assert result.returncode == 0

    [call] = stack.wait_for(lambda: finished(cti_serve, stats, "13900139000"), timeout=30)
    assert (call["outcome"], call["agent"], call["queue"]) == ("answered", "PJSIP/1001", "hotline")
    # The talk ended when the agent hung up (4 s); the survey after it is not talk time.
    assert 2 < call["talk_s"] < 8, call
    rated = stack.wait_for(
        lambda: cti_serve.get(f"/api/v1/calls/{call['id']}", stats).json()["csat"], timeout=30
    )
    assert rated == 4

    figures = cti_serve.get("/api/v1/desk/stats", desk).json()
    assert figures["answered"] == 1
    assert figures["csat"] == {
        "count": 1,
        "average": 4.0,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0},
    }
    # A completed call never reaches the overflow: no voicemail, no callback task.
    cdr = [r for r in stack.read_cdr() if r["src"] == "13900139000"]
    assert cdr and not any("voicemail" in r["lastdata"] for r in cdr), cdr
    tickets = cti_serve.get("/api/v1/tickets/callbacks", cti_serve.token("tickets:write"))
    assert [t for t in tickets.json()["items"] if t["caller_number"] == "13900139000"] == []


def test_with_the_survey_off_the_call_ends_when_the_agent_hangs_up(
    cti_serve: CtiServe, agent_hangs_up: None
) -> None:
    cti_serve.env["CTI_ACD_HOTLINES"] = json.dumps({"hotline": {"csat": False}})
    cti_serve.start()
    stats = cti_serve.token("stats:read")

    result = stack.run_sipp_caller(
        "13900139001", "王芳", scenario="caller_rates_4.xml", timeout=120
    )
    assert result.returncode == 0

    [call] = stack.wait_for(lambda: finished(cti_serve, stats, "13900139001"), timeout=30)
    assert call["outcome"] == "answered"
    detail = cti_serve.get(f"/api/v1/calls/{call['id']}", stats).json()
    assert detail["csat"] is None
    # Asterisk hung up on the caller with the agent (~2 s ringing, 4 s talk), before the
    # caller's first key at 10 s; the survey's question alone is 12 s long.
    took = datetime.fromisoformat(call["ended_at"]) - datetime.fromisoformat(call["started_at"])
    assert took.total_seconds() < 10, call
