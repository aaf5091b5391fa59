"""Real call, real browser: an agent calls a customer back from the desk's task list.

Agent 1001 (a SIPp phone that answers and speaks) is logged in to /agent in
Chromium with one callback task assigned; clicking 回拨 rings the agent's phone,
then a SIPp customer who answers and talks; the desk pops the customer (with the
shop's order history) as a callback, and when the call ends the task is done and
leaves the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.integration.conftest import CtiServe

pytestmark = pytest.mark.integration


@pytest.fixture
def phones(shared_asterisk: None, tmp_path: Path) -> Iterator[None]:
    stack.asterisk_cli("channel request hangup all")
    agent = stack.start_sipp_agent("1001", "agent_talks.xml")
    customers = stack.start_sipp_customers("agent_talks.xml", log_dir=tmp_path)
    yield
    stack._stop(agent)
    stack._stop(customers)
    stack.asterisk_cli("channel request hangup all")


def _call(serve: CtiServe, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{serve.base_url}{path}", headers=headers, timeout=10, **kw)


def test_callback_from_the_desk(
    cti_serve: CtiServe, cti_env: dict[str, str], phones: None, browser: Any
) -> None:
    cti_env["CTI_CALLBACK_DIAL_TEMPLATE"] = "PJSIP/{national}@customers"
    cti_serve.start()
    admin = cti_serve.token("agents:write", "tickets:write", "orders:write")
    assert _call(cti_serve, "PUT", "/api/v1/agents/1001", admin, json={"name": "1001"}).is_success
    order = {
        "shop": "tmall-flagship",
        "customer": {"phone": "13800138009", "name": "李娜"},
        "items": [{"sku": "SKU-1", "name": "电饭煲", "qty": 1, "price": "599.00"}],
        "amount": "599.00",
        "status": "returned",
        "created_at": "2026-11-20T10:00:00+08:00",
        "updated_at": "2026-11-28T10:00:00+08:00",
    }
    assert _call(cti_serve, "PUT", "/api/v1/orders/R-1", admin, json=order).is_success
    r = _call(
        cti_serve,
        "POST",
        "/api/v1/tickets",
        admin,
        json={
            "type": "return_exchange",
            "title": "退货进度回电",
            "order_id": "R-1",
            "caller_number": "13800138009",
            "assignee": "1001",
        },
    )
    assert r.status_code == 201, r.text
    # The back desk's callback list holds callback tasks; this one is a return.
    r = _call(
        cti_serve,
        "POST",
        "/api/v1/tickets",
        admin,
        json={"type": "callback", "title": "回电 李娜", "order_id": "R-1", "assignee": "1001"},
    )
    assert r.status_code == 201, r.text
    ticket = r.json()["id"]

    page = browser.new_page()
    page.goto(f"{cti_serve.base_url}/agent")
    page.fill("#token", cti_serve.token("agent", agent="1001"))
    page.click("#login-btn")
    page.wait_for_selector("body[data-ws-ready='1']", timeout=10_000)
    button = page.wait_for_selector(f"#callbacks button[data-ticket-id='{ticket}']")
    assert "回电 李娜" in page.inner_text("#callbacks")
    button.click()

    # The agent's phone answers, the customer's rings: the desk pops the customer.
    page.wait_for_selector("body[data-origin='callback']", timeout=20_000)
    assert page.inner_text("#customer-name") == "李娜"
    assert "R-1" in page.inner_text("#orders tbody")
    assert "回拨客户" in page.inner_text("#origin-note")
    page.wait_for_selector("body[data-call-state='answered']", timeout=20_000)
    stack.asterisk_cli("channel request hangup all")  # the agent hangs up
    page.wait_for_selector("body[data-call-state='ended']", timeout=20_000)

    # Done: the task leaves the list and its history has the call.
    page.wait_for_selector(
        f"#callbacks button[data-ticket-id='{ticket}']", state="detached", timeout=30_000
    )
    detail = _call(cti_serve, "GET", f"/api/v1/tickets/{ticket}", admin).json()
    assert detail["status"] == "closed"
    assert any(e["kind"] == "call" and "已接通" in e["body"] for e in detail["events"])
