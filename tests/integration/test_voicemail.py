"""Issue 5: a call on a holiday leaves a voicemail that becomes a callback task."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cti_stack as stack
import httpx

from tests.conftest import Devstack
from tests.integration.conftest import CtiServe


def test_holiday_call_leaves_voicemail_and_callback_ticket(
    cti_serve: CtiServe, devstack: Devstack, agent_1001: None
) -> None:
    cti_serve.start()
    admin = cti_serve.token("agents:write", "stats:read", "tickets:write")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    r = httpx.put(
        f"{cti_serve.base_url}/api/v1/hotlines/hotline/holidays/{today}",
        headers={"Authorization": f"Bearer {admin}"},
        json={"kind": "holiday", "name": "测试假日"},
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text

    result = stack.run_sipp_caller(
        "13812345678", "陈静", scenario="caller_voicemail.xml", timeout=90
    )
    assert result.returncode == 0

    def callback() -> list[dict[str, object]]:
        page = cti_serve.get("/api/v1/tickets/callbacks", admin).json()
        return [t for t in page["items"] if t["caller_number"] == "13812345678"]

    ticket = stack.wait_for(callback, timeout=30)[0]
    assert ticket["type"] == "callback" and ticket["status"] == "open"
    path = str(ticket["recording_path"])
    assert path.endswith(".wav")
    on_host = Path(devstack.env["CTI_DEVSTACK_ROOTFS"]) / path.lstrip("/")
    # 8 kHz 16-bit: more than 2 s of the caller's ~6.8 s of speech was kept.
    assert on_host.is_file() and on_host.stat().st_size > 32000, on_host
    assert str(ticket["description"]).startswith("客户语音留言（节假日）"), ticket
    assert "陈静" in str(ticket["description"])
    # The agent was free: the call went to voicemail because of the holiday, not the queue.
    cdr = [row for row in stack.read_cdr() if row["src"] == "13812345678"]
    assert cdr and not any(row["dstchannel"].startswith("PJSIP/1001") for row in cdr)
    calls = cti_serve.get("/api/v1/calls", admin, caller="13812345678").json()["items"]
    assert calls and calls[0]["outcome"] == "not_queued"
