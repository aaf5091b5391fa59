"""Issue 3: a real call through Asterisk, our FastAGI server and the hotline queue.

Then `cti serve` is stopped and a new call still reaches the agent through the
dialplan's fallback: the hotline survives a CTI outage.
"""

from __future__ import annotations

import cti_stack as stack
import httpx

from tests.integration.conftest import CtiServe


def _hotline_cdr(number: str) -> list[dict[str, str]]:
    return [
        row
        for row in stack.read_cdr()
        if row["src"] == number and row["dcontext"] == "cti-hotline" and row["end"]
    ]


def _connected(callid: str) -> list[list[str]]:
    return [
        row
        for row in stack.read_queue_log()
        if row[1] == callid and row[2] == "hotline" and row[4] == "CONNECT"
    ]


def test_call_passes_fastagi_and_queue_then_survives_cti_outage(
    cti_serve: CtiServe, agent_1001: None
) -> None:
    cti_serve.start()
    ready = httpx.get(f"{cti_serve.base_url}/readyz", timeout=5).json()
    assert ready["status"] == "ready", ready
    assert httpx.get(f"{cti_serve.base_url}/healthz", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{cti_serve.base_url}/docs", timeout=5).status_code == 200

    result = stack.run_sipp_caller("13800138000", "张伟")
    assert result.returncode == 0
    rows = stack.wait_for(lambda: _hotline_cdr("13800138000"))
    answered = [r for r in rows if r["dstchannel"].startswith("PJSIP/1001-")]
    assert answered, rows
    cdr = answered[-1]
    # The dialplan records what the AGI answered: SUCCESS means our FastAGI server routed it.
    assert "agi=SUCCESS" in cdr["userfield"], cdr
    assert "queue=hotline" in cdr["userfield"], cdr
    assert cdr["clid"].startswith('"张伟"'), cdr["clid"]
    connect = stack.wait_for(lambda: _connected(cdr["uniqueid"]))
    assert connect[0][3] in ("1001", "PJSIP/1001")

    assert cti_serve.stop() == 0  # SIGTERM: clean shutdown

    result = stack.run_sipp_caller("13900139000", "李娜")
    assert result.returncode == 0
    rows = stack.wait_for(lambda: _hotline_cdr("13900139000"))
    answered = [r for r in rows if r["dstchannel"].startswith("PJSIP/1001-")]
    assert answered, rows
    cdr = answered[-1]
    assert "agi=SUCCESS" not in cdr["userfield"], cdr  # nobody answered the AGI...
    assert "queue=hotline" in cdr["userfield"], cdr  # ...and the call was queued all the same
    assert stack.wait_for(lambda: _connected(cdr["uniqueid"]))


def test_readyz_names_the_reason_when_ami_is_unreachable(cti_serve: CtiServe) -> None:
    cti_serve.env["CTI_AMI_PORT"] = "1"  # nothing listens there
    cti_serve.env["CTI_AGI_ENABLED"] = "false"
    cti_serve.start(wait_ready=False)
    # Anonymous probes get only the status; any valid token sees the reasons.
    auth = {"Authorization": f"Bearer {cti_serve.token('stats:read')}"}
    anonymous = stack.wait_for(
        lambda: (
            (r := httpx.get(f"{cti_serve.base_url}/readyz", timeout=5)).status_code == 503
            and r.json()
        )
    )
    assert anonymous == {"status": "not ready"}
    body = httpx.get(f"{cti_serve.base_url}/readyz", headers=auth, timeout=5).json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["ami"]["ok"] is False
    assert body["reason"].startswith("ami: AMI not logged in")
    assert cti_serve.stop() == 0
