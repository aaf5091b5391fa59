"""Click-to-call on the real stack: agent 1001's SIPp phone rings first, then a SIPp
customer: first docker/devstack/sipp/customer.xml (a number ending in 6 is busy), then
a customer who answers and talks (agent_talks.xml plays any phone that answers and
speaks). The call is recorded, tracked as outbound, and its result lands on the
callback task it was made from.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.conftest import Devstack
from tests.integration.conftest import CtiServe

SHOP = "shop-a"
SHOP_NUMBER = "4008001234"


class Phones:
    """SIPp as agent 1001's phone, and as every customer (one scenario at a time)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.agent = stack.start_sipp_agent("1001", "agent_talks.xml")
        self.customers: Any = None
        self.logs: list[Path] = []

    def customers_as(self, scenario: str) -> None:
        if self.customers is not None:
            stack._stop(self.customers)
        log_dir = self.tmp_path / f"customers-{len(self.logs)}"
        log_dir.mkdir()
        self.logs.append(log_dir)
        self.customers = stack.start_sipp_customers(scenario, log_dir=log_dir)

    def invites(self) -> list[str]:
        text = "".join((d / "messages.log").read_text(errors="replace") for d in self.logs)
        return re.findall(r"^INVITE sip:(\d+)@", text, flags=re.M)

    def presented(self, number: str) -> bool:
        text = "".join((d / "messages.log").read_text(errors="replace") for d in self.logs)
        return re.search(rf"^From: .*<sip:{number}@", text, flags=re.M | re.I) is not None

    def close(self) -> None:
        stack._stop(self.agent)
        if self.customers is not None:
            stack._stop(self.customers)


@pytest.fixture
def phones(devstack: Devstack, tmp_path: Path) -> Iterator[Phones]:
    stack.asterisk_cli("channel request hangup all")
    p = Phones(tmp_path)
    yield p
    p.close()
    stack.asterisk_cli("channel request hangup all")


def _api(serve: CtiServe, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{serve.base_url}{path}", headers=headers, timeout=30, **kw)


def _ticket(serve: CtiServe, token: str, number: str) -> int:
    r = _api(
        serve,
        "POST",
        "/api/v1/tickets",
        token,
        json={
            "type": "callback",
            "title": f"回电 {number}",
            "caller_number": number,
            "shop": SHOP,
            "assignee": "1001",
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _calls_of(serve: CtiServe, token: str, ticket: int) -> list[dict[str, Any]]:
    r = _api(serve, "GET", f"/api/v1/tickets/{ticket}", token)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["kind"] == "call"]


def test_an_agent_calls_a_customer_back_from_a_callback_task(
    cti_serve: CtiServe, cti_env: dict[str, str], phones: Phones
) -> None:
    cti_env["CTI_CALLBACK_DIAL_TEMPLATE"] = "PJSIP/{national}@customers"
    cti_serve.start()
    admin = cti_serve.token("agents:write", "tickets:write", "calls:originate")
    r = _api(cti_serve, "PUT", "/api/v1/agents/1001", admin, json={"name": "坐席 1001"})
    assert r.status_code in (200, 201), r.text
    r = _api(
        cti_serve,
        "PUT",
        f"/api/v1/shops/{SHOP}",
        admin,
        json={"name": "旗舰店", "caller_id": SHOP_NUMBER},
    )
    assert r.status_code in (200, 201), r.text
    agent = cti_serve.token("agent", agent="1001")
    stats = cti_serve.token("stats:read")

    phones.customers_as("customer.xml")
    # A busy customer: the agent answers, the customer's line is busy; the task stays
    # open, due again later, with the attempt on its history.
    busy_ticket = _ticket(cti_serve, admin, "13800138006")
    r = _api(cti_serve, "POST", "/api/v1/calls", agent, json={"ticket_id": busy_ticket})
    assert r.status_code == 202, r.text
    busy_call = r.json()["call_id"]
    [busy] = stack.wait_for(lambda: _calls_of(cti_serve, agent, busy_ticket), timeout=60)
    assert busy["linkedid"] == busy_call
    assert busy["body"] == "回拨 +8613800138006：客户忙线"
    t = _api(cti_serve, "GET", f"/api/v1/tickets/{busy_ticket}", agent).json()
    assert t["status"] == "open" and t["due_at"] is not None

    # A customer who answers: agent and customer talk, then the agent hangs up.
    phones.customers_as("agent_talks.xml")
    ticket = _ticket(cti_serve, admin, "13800138009")
    r = _api(cti_serve, "POST", "/api/v1/calls", agent, json={"ticket_id": ticket})
    assert r.status_code == 202, r.text
    call_id = r.json()["call_id"]
    assert r.json()["caller_id"] == SHOP_NUMBER

    def live() -> dict[str, Any] | None:
        got = _api(cti_serve, "GET", f"/api/v1/calls/{call_id}", stats)
        if got.status_code != 200:
            return None
        body: dict[str, Any] = got.json()
        return body if body.get("agent") else None

    talking = stack.wait_for(live, timeout=30)
    assert talking["caller_number"] == "+8613800138009"
    # The agent's phone is in use: a second click is refused, nothing is dialled.
    again = _api(cti_serve, "POST", "/api/v1/calls", agent, json={"phone": "13800138001"})
    assert again.status_code == 409, again.text
    time.sleep(4)  # they talk
    stack.asterisk_cli("channel request hangup all")

    [done] = stack.wait_for(lambda: _calls_of(cti_serve, agent, ticket), timeout=60)
    assert done["linkedid"] == call_id
    assert done["body"].startswith("回拨 +8613800138009：已接通，通话 ")
    t = _api(cti_serve, "GET", f"/api/v1/tickets/{ticket}", agent).json()
    assert t["status"] == "closed"

    # Tracked like any other call: outbound, the agent's, with its recording.
    def recorded() -> dict[str, Any] | None:
        got = _api(cti_serve, "GET", f"/api/v1/calls/{call_id}", stats).json()
        recs = got.get("recordings") or []
        return got if recs and all(x.get("status") == "available" for x in recs) else None

    call = stack.wait_for(recorded, timeout=60)
    assert call["direction"] == "outbound"
    assert call["outcome"] == "answered"
    assert call["agent"] == "PJSIP/1001"
    [rec] = call["recordings"]
    audio = httpx.get(
        f"{cti_serve.base_url}/api/v1/recordings/{rec['id']}/audio",
        headers={"Authorization": f"Bearer {agent}"},
        timeout=30,
    )
    assert audio.status_code == 200
    seconds = (len(audio.content) - 44) / (8000 * 2)
    assert seconds >= 3.5, seconds  # the talk, from the customer's answer to the hang-up
    assert rec["agent"] == "1001"

    # The customers' phones saw one INVITE each, presenting the shop's number.
    assert sorted(phones.invites()) == ["13800138006", "13800138009"], phones.invites()
    assert phones.presented(SHOP_NUMBER)
