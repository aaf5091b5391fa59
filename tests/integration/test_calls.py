"""Issue 4: real calls become call records, across an AMI link loss and an Asterisk restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.integration.conftest import CtiServe
from tests.integration.tcpproxy import TcpProxy


@pytest.fixture
def ami_proxy(cti_serve: CtiServe) -> Iterator[TcpProxy]:
    proxy = TcpProxy(cti_serve.env["CTI_AMI_HOST"], int(cti_serve.env["CTI_AMI_PORT"])).start()
    cti_serve.env["CTI_AMI_PORT"] = str(proxy.port)
    yield proxy
    proxy.stop()


def _calls(serve: CtiServe, token: str, **params: Any) -> dict[str, Any]:
    r = serve.get("/api/v1/calls", token, limit=200, **params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _finished(serve: CtiServe, token: str, number: str) -> list[dict[str, Any]]:
    return [c for c in _calls(serve, token)["items"] if c["caller_number"] == number]


def _ready(serve: CtiServe) -> bool:
    try:
        return httpx.get(f"{serve.base_url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def test_calls_are_recorded_across_ami_loss_and_asterisk_restart(
    cti_serve: CtiServe, ami_proxy: TcpProxy, agent_1001: None
) -> None:
    stack.reset_logs()
    cti_serve.start()
    token = cti_serve.token("stats:read")

    # 1. An answered call with a Chinese name.
    assert stack.run_sipp_caller("13800138000", "张伟").returncode == 0
    answered = stack.wait_for(lambda: _finished(cti_serve, token, "13800138000"))
    call = answered[0]
    assert call["outcome"] == "answered"
    assert call["caller_name"] == "张伟"
    assert call["agent"] == "PJSIP/1001"
    assert call["queue"] == "hotline"
    assert call["dnis"] == "4008001234"
    assert 0 < call["wait_s"] < 10
    assert call["talk_s"] > 3

    detail = cti_serve.get(f"/api/v1/calls/{call['id']}", token).json()
    types = [e["type"] for e in detail["timeline"]]
    for expected in ("call_started", "routed", "queued", "agent_ringing", "answered", "ended"):
        assert expected in types, types
    assert types.index("routed") < types.index("queued") < types.index("answered")
    assert types.index("answered") < types.index("ended")
    routed = detail["timeline"][types.index("routed")]["data"]
    assert routed["queue"] == "hotline" and routed["note_tier"] == "new", routed

    # 2. Nobody is logged in: an impatient caller abandons.
    stack.remove_queue_member("1001")
    assert stack.run_sipp_caller("13700137000", "李四", scenario="caller_hangup_after_6s.xml")
    abandoned = stack.wait_for(lambda: _finished(cti_serve, token, "13700137000"))
    assert abandoned[0]["outcome"] == "abandoned"
    assert abandoned[0]["agent"] is None
    stack.add_queue_member("1001")

    # 3. The AMI link drops in the middle of a call: the live call is resynced. The caller
    # talks 20 s, time for the cut and the reconnect (CTI_AMI_RECONNECT_MAX 2 s).
    caller = stack.run_sipp_caller(
        "13600136000", "王芳", scenario="caller_hangup_after_20s.xml", wait=False
    )
    live = stack.wait_for(
        lambda: [
            c
            for c in _calls(cti_serve, token)["active"]
            if c["caller_number"] == "13600136000" and c["agent"] == "PJSIP/1001"
        ]
    )
    assert live[0]["caller_name"] == "王芳"
    connections = ami_proxy.connections
    ami_proxy.cut()
    stack.wait_for(lambda: ami_proxy.connections > connections and _ready(cti_serve))
    resynced = _calls(cti_serve, token)["active"]
    assert [c["caller_number"] for c in resynced] == ["13600136000"], resynced
    assert resynced[0]["agent"] == "PJSIP/1001"
    assert caller.wait(90) == 0
    after_cut = stack.wait_for(lambda: _finished(cti_serve, token, "13600136000"), timeout=30)
    assert after_cut[0]["outcome"] == "answered"
    assert after_cut[0]["caller_name"] == "王芳"

    # 4. Asterisk restarts; calls after it are still recorded.
    stack.asterisk_cli("core restart now")
    time.sleep(2)
    stack.wait_for(lambda: _ready(cti_serve), timeout=90)
    stack.wait_for(lambda: "PJSIP/1001" in stack.asterisk_cli("queue show hotline"), timeout=30)
    assert stack.run_sipp_caller("+8613500135000", "赵敏").returncode == 0
    after_restart = stack.wait_for(lambda: _finished(cti_serve, token, "+8613500135000"))
    assert after_restart[0]["outcome"] == "answered"
    assert after_restart[0]["caller_name"] == "赵敏"

    # Every call is there exactly once, and nothing is left active.
    page = _calls(cti_serve, token)
    numbers = sorted(c["caller_number"] for c in page["items"])
    assert numbers == sorted(["13800138000", "13700137000", "13600136000", "+8613500135000"])
    assert page["active"] == []
    only_abandoned = _calls(cti_serve, token, outcome="abandoned")["items"]
    assert [c["caller_number"] for c in only_abandoned] == ["13700137000"]
