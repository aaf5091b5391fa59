"""Real call, real browser: the /agent page pops the caller while the agent's phone rings.

Agent 1001 (a SIPp phone that rings 6 s before answering) is logged in to the
page in Chromium; a SIPp caller presents 13800138000 with a Chinese name; the
shop stored that customer as ``+86 138-0013-8000``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.integration.conftest import CtiServe

pytestmark = pytest.mark.integration

ORDER_ID = "E20261123001"


def put_order(serve: CtiServe, token: str, order_id: str, when: str, item: str) -> None:
    body = {
        "shop": "tmall-flagship",
        "customer": {"phone": "+86 138-0013-8000", "name": "张伟"},
        "items": [{"sku": "SKU-" + order_id[-3:], "name": item, "qty": 1, "price": "399.00"}],
        "amount": "399.00",
        "status": "shipped",
        "created_at": when,
        "updated_at": when,
    }
    r = httpx.put(
        f"{serve.base_url}/api/v1/orders/{order_id}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text


@pytest.fixture
def agent_1001_slow_phone(shared_asterisk: None) -> Any:
    """Agent 1001, alone in the hotline queue, with a phone that rings 6 s."""
    stack.devstack("reset-queues")
    stack.add_queue_member("1001")
    phone = stack.start_sipp_agent("1001", "agent_answer_6s.xml")
    yield
    stack._stop(phone)
    stack.remove_queue_member("1001")


def test_pop_while_ringing_then_ended_and_ticket_from_the_page(
    cti_serve: CtiServe, agent_1001_slow_phone: None, browser: Any, tmp_path: Path
) -> None:
    cti_serve.start()
    shop = cti_serve.token("orders:write")
    put_order(cti_serve, shop, "E20261101007", "2026-11-01T09:00:00+08:00", "保温杯")
    put_order(cti_serve, shop, ORDER_ID, "2026-11-22T20:15:00+08:00", "羽绒服")
    agent = cti_serve.token("agent", agent="1001")

    page = browser.new_page()
    page.goto(f"{cti_serve.base_url}/agent")
    page.fill("#token", agent)
    page.click("#login-btn")
    page.wait_for_selector("body[data-ws-ready='1']", timeout=10_000)
    assert page.inner_text("#who") == "坐席 1001"

    caller: subprocess.Popen[bytes] = stack.run_sipp_caller(  # type: ignore[assignment]
        "13800138000", "张伟", wait=False
    )
    try:
        page.wait_for_selector("body[data-call-state='ringing']", timeout=15_000)
        assert page.inner_text("#customer-name") == "张伟"
        assert page.inner_text("#tier-badge") == "老客"
        first_row = page.inner_text("#orders tbody tr:first-child")
        assert ORDER_ID in first_row and "羽绒服" in first_row
        assert "2026/11/22 20:15:00" in first_row  # Beijing time, as the shop gave it
        assert page.inner_text("#caller-number") == "13800138000"
        # All of that was on screen while the phone still rang (it answers after 6 s).
        assert page.get_attribute("body", "data-call-state") == "ringing"
        page.screenshot(path=str(tmp_path / "agent-pop-ringing.png"), full_page=True)

        page.wait_for_selector("body[data-call-state='answered']", timeout=15_000)
        # The caller is about to read out a card number: the agent pauses the recording.
        page.click("#recording-pause")
        page.wait_for_selector("body[data-recording='paused']", timeout=10_000)
        assert "已暂停" in page.inner_text("#recording-state")
        page.click("#recording-resume")
        page.wait_for_selector("body[data-recording='on']", timeout=10_000)
        page.wait_for_selector("body[data-call-state='ended']", timeout=30_000)
        assert "通话已结束" in page.inner_text("#call-state")
        call_id = page.inner_text("#call-id")

        page.select_option("#ticket-type", "return_exchange")
        page.select_option("#ticket-order", ORDER_ID)
        page.fill("#ticket-title", "羽绒服尺码不合适，申请换货")
        page.click("#ticket-create")
        # A selector, not a JS predicate: the page's CSP forbids eval, which predicates use.
        page.wait_for_selector("#ticket-result[data-ticket-id]", timeout=10_000)
        ticket_id = int(page.get_attribute("#ticket-result", "data-ticket-id") or "0")
    finally:
        stack._stop(caller)

    # The pause and the resume are on the call's timeline, in that order.
    stats = cti_serve.token("stats:read")
    timeline = stack.wait_for(
        lambda: cti_serve.get(f"/api/v1/calls/{call_id}", stats).json().get("timeline")
    )
    marks = [e["type"] for e in timeline if e["type"].startswith("recording_")]
    assert marks == ["recording_started", "recording_paused", "recording_resumed"], marks

    desk = cti_serve.token("tickets:write")
    found = cti_serve.get("/api/v1/tickets", desk, linkedid=call_id).json()["items"]
    assert [t["id"] for t in found] == [ticket_id]
    assert found[0]["order_id"] == ORDER_ID
    assert found[0]["type"] == "return_exchange"
    assert found[0]["customer_id"] is not None
