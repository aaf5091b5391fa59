"""Issue 5 with real calls: VIP callers first, and the last agent for a returning caller."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import cti_api
import cti_stack as stack
import pytest

from tests.conftest import Devstack
from tests.integration.conftest import CtiServe


@pytest.fixture
def two_agents(devstack: Devstack) -> Iterator[None]:
    stack.devstack("reset-queues")
    stack.reset_logs()
    for ext in ("1001", "1002"):
        stack.add_queue_member(ext)
        stack.start_sipp_agent(ext, "agent_answer.xml")
    yield
    stack.cleanup()
    stack.devstack("reset-queues")


def push_order(
    serve: CtiServe, token: str, order_id: str, phone: str, name: str, tier: str | None
) -> None:
    items = [{"sku": "TEA-1", "name": "龙井茶", "qty": 1, "price": "128.00"}]
    order = cti_api.order(cti_api.DEMO_SHOP, phone, name, amount="128.00", tier=tier, items=items)
    cti_api.put_order(cti_api.Api(serve.base_url), token, order_id, order)


def queue_events(event: str) -> list[list[str]]:
    return [row for row in stack.read_queue_log() if row[2] == "hotline" and row[4] == event]


def callid_of(number: str) -> str:
    rows = [r for r in stack.read_cdr() if r["src"] == number and r["dcontext"] == "cti-hotline"]
    assert rows, f"no CDR for {number}"
    return rows[0]["uniqueid"]


def _member_busy(ext: str) -> bool:
    lines = stack.asterisk_cli("queue show hotline").splitlines()
    return any(f"(PJSIP/{ext})" in ln and ("(Busy)" in ln or "(In use)" in ln) for ln in lines)


def finished(serve: CtiServe, token: str, number: str) -> list[dict[str, Any]]:
    items = serve.get("/api/v1/calls", token, caller=number).json()["items"]
    return [c for c in items if c["caller_number"] == number]


def test_vip_caller_is_connected_first(cti_serve: CtiServe, devstack: Devstack) -> None:
    stack.devstack("reset-queues")
    stack.reset_logs()
    stack.add_queue_member("1001")
    stack.start_sipp_agent("1001", "agent_answer.xml")
    try:
        cti_serve.start()
        shop = cti_serve.token("orders:write")
        push_order(cti_serve, shop, "R-1", "13711112222", "回头客", None)
        push_order(cti_serve, shop, "V-1", "13733334444", "贵宾", "vip")

        # The only agent is busy with a first call for ~20 s ...
        blocker = stack.run_sipp_caller(
            "13900000001", "占线", scenario="caller_hangup_after_20s.xml", wait=False
        )
        stack.wait_for(lambda: queue_events("CONNECT"), timeout=20)
        # ... while a new, a returning and a VIP caller join, in that order.
        waiting = {}
        for number, name in (
            ("13755556666", "新客"),
            ("13711112222", "回头客"),
            ("13733334444", "贵宾"),
        ):
            waiting[number] = stack.run_sipp_caller(
                number, name, scenario="caller_hangup_after_30s.xml", wait=False
            )
            stack.wait_for(
                lambda n=number: (
                    any(r["src"] == n for r in stack.read_cdr())
                    or len(queue_events("ENTERQUEUE")) >= 2 + list(waiting).index(n)
                ),
                timeout=10,
            )
            time.sleep(1.0)
        entered = [row[1] for row in queue_events("ENTERQUEUE")]
        assert len(entered) == 4, entered
        assert blocker.wait(60) == 0
        connects = stack.wait_for(
            lambda: len(queue_events("CONNECT")) >= 2 and queue_events("CONNECT"), timeout=40
        )
        # Entry order was blocker, new, returning, VIP: the second CONNECT is the VIP's.
        assert connects[1][1] == entered[3], (entered, connects)
        for proc in waiting.values():
            proc.wait(60)
        token = cti_serve.token("stats:read")
        vip = stack.wait_for(lambda: finished(cti_serve, token, "13733334444"))[0]
        assert vip["outcome"] == "answered" and vip["agent"] == "PJSIP/1001"
        new = stack.wait_for(lambda: finished(cti_serve, token, "13755556666"))[0]
        assert new["outcome"] == "abandoned"
    finally:
        stack.cleanup()
        stack.devstack("reset-queues")


def test_returning_caller_reaches_last_agent_unless_busy(
    cti_serve: CtiServe, two_agents: None
) -> None:
    cti_serve.start()
    shop = cti_serve.token("orders:write")
    token = cti_serve.token("stats:read")
    push_order(cti_serve, shop, "A-1", "+86 136-0000-1111", "老王", None)

    # First call of 老王: whoever answers becomes his last agent.
    assert stack.run_sipp_caller("13600001111", "老王").returncode == 0
    first = stack.wait_for(lambda: finished(cti_serve, token, "13600001111"))[0]
    last_agent = first["agent"]
    other = "PJSIP/1002" if last_agent == "PJSIP/1001" else "PJSIP/1001"

    # Second call: both agents are free; the last agent is rung directly, not via the queue.
    assert stack.run_sipp_caller("13600001111", "老王").returncode == 0
    calls = stack.wait_for(
        lambda: (
            len(finished(cti_serve, token, "13600001111")) == 2
            and finished(cti_serve, token, "13600001111")
        )
    )
    second = calls[0]
    assert second["agent"] == last_agent, calls
    assert second["outcome"] == "answered"
    # Answered by the direct Dial, before any queue; filed under the hotline's queue, for
    # which it counts as offered and answered (README, queue statistics).
    assert second["queue"] == "hotline"
    detail = cti_serve.get(f"/api/v1/calls/{second['id']}", token).json()
    assert "queued" not in [e["type"] for e in detail["timeline"]]
    routed = [e["data"] for e in detail["timeline"] if e["type"] == "routed"]
    assert routed and routed[0]["preferred_agent"] == last_agent, detail["timeline"]
    assert routed[0]["note_tier"] == "returning"

    # The last agent is now busy on another call (a colleague's, through Asterisk directly);
    # 老王 calls again: he goes to the queue at once and the other agent answers.
    ext = last_agent.split("/")[1]
    stack.asterisk_cli(f"channel originate PJSIP/{ext} application Wait 25")
    stack.wait_for(lambda: _member_busy(ext), timeout=15)
    assert stack.run_sipp_caller("13600001111", "老王").returncode == 0
    third = stack.wait_for(
        lambda: (
            len(finished(cti_serve, token, "13600001111")) == 3
            and finished(cti_serve, token, "13600001111")
        )
    )[0]
    assert third["agent"] == other
    assert third["queue"] == "hotline"
    detail = cti_serve.get(f"/api/v1/calls/{third['id']}", token).json()
    rung = [e["data"].get("agent") for e in detail["timeline"] if e["type"] == "agent_ringing"]
    assert last_agent not in rung  # the busy last agent was never tried
