"""Click-to-call (``POST /api/v1/calls``): what is refused, what reaches Asterisk, and
how the call's end lands on the ticket, on SQLite and PostgreSQL.

Asterisk is stood in for by a sender that takes the Originate and answers it as the
agent's phone would (the real exchange, SIPp agent and customer, is proven by
tests/integration/test_click_to_call.py); everything else is the real service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cti.ami.codec import AmiMessage
from cti.clicktocall.models import AgentCall, AgentCallStatus
from cti.clicktocall.results import CallEnd, apply_end
from cti.container import Container
from cti.tickets.models import Ticket

PHONE = "13800138000"


class FakeAsterisk:
    """Takes each Originate; the agent answers (Reason 4) unless told otherwise."""

    def __init__(self, reason: int = 4) -> None:
        self.reason = reason
        self.placed: list[dict[str, Any]] = []
        self.logged_in = True
        self.dialled = asyncio.Event()

    async def send_action(self, headers: Mapping[str, Any]) -> AmiMessage:
        raise AssertionError(f"unexpected action {headers.get('Action')}")

    async def send_originate(self, headers: Mapping[str, Any], timeout: float) -> AmiMessage:
        self.placed.append(dict(headers))
        self.dialled.set()
        return AmiMessage(
            [
                ("Event", "OriginateResponse"),
                ("Response", "Success" if self.reason == 4 else "Failure"),
                ("Reason", str(self.reason)),
                ("Uniqueid", str(headers.get("ChannelId", ""))),
            ]
        )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def setup_desk(client: httpx.AsyncClient, make_token: Any) -> dict[str, str]:
    """Agents 1001 and 1002, shop-a with its own number, and the tokens to use them."""
    admin = auth(await make_token("agents:write", "tickets:write", "calls:originate"))
    for ext in ("1001", "1002"):
        r = await client.put(f"/api/v1/agents/{ext}", json={"name": ext}, headers=admin)
        assert r.status_code in (200, 201), r.text
    r = await client.put(
        "/api/v1/shops/shop-a", json={"name": "甲店", "caller_id": "4008001234"}, headers=admin
    )
    assert r.status_code in (200, 201), r.text
    return {
        "admin": await make_token("agents:write", "tickets:write", "calls:originate"),
        "1001": await make_token("agent", agent="1001"),
        "1002": await make_token("agent", agent="1002"),
    }


async def callback_ticket(
    client: httpx.AsyncClient, token: str, *, assignee: str = "1001", number: str = PHONE
) -> int:
    r = await client.post(
        "/api/v1/tickets",
        json={
            "type": "callback",
            "title": "回电 客户",
            "caller_number": number,
            "shop": "shop-a",
            "assignee": assignee,
        },
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def rows(container: Container) -> int:
    async with container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(AgentCall)) or 0)


async def test_bad_requests_are_refused_and_nothing_is_dialled(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    fake = FakeAsterisk()
    container.ami = fake  # type: ignore[assignment]
    tokens = await setup_desk(client, make_token)
    others = await callback_ticket(client, tokens["admin"], assignee="1002")
    r = await client.put(
        "/api/v1/do-not-call/13900139000", json={"reason": "投诉"}, headers=auth(tokens["admin"])
    )
    assert r.status_code in (200, 201), r.text
    cases = [
        ({"phone": "12345"}, 422, "invalid phone"),
        ({}, 422, "give 'phone'"),
        ({"phone": PHONE, "extra": 1}, 422, None),
        ({"ticket_id": others}, 404, "no ticket"),
        ({"phone": "13900139000"}, 409, "do-not-call"),
        ({"phone": PHONE, "shop": "nope"}, 404, "no shop"),
        ({"phone": "x" * 65}, 422, None),
    ]
    for body, status, words in cases:
        r = await client.post("/api/v1/calls", json=body, headers=auth(tokens["1001"]))
        assert r.status_code == status, (body, r.text)
        if words:
            assert words in r.json()["message"], r.json()
    supervisor = await client.post(
        "/api/v1/calls", json={"phone": PHONE}, headers=auth(tokens["admin"])
    )
    assert supervisor.status_code == 403
    assert fake.placed == []
    assert await rows(container) == 0


async def test_without_asterisk_it_is_503_and_nothing_is_kept(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    tokens = await setup_desk(client, make_token)
    r = await client.post("/api/v1/calls", json={"phone": PHONE}, headers=auth(tokens["1001"]))
    assert r.status_code == 503, r.text
    assert await rows(container) == 0


async def test_the_agents_phone_rings_first_with_the_customer_and_shop_number(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    fake = FakeAsterisk()
    container.ami = fake  # type: ignore[assignment]
    tokens = await setup_desk(client, make_token)
    ticket = await callback_ticket(client, tokens["admin"])
    r = await client.post("/api/v1/calls", json={"ticket_id": ticket}, headers=auth(tokens["1001"]))
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "ringing_agent"
    assert out["phone"] == "+8613800138000"
    assert out["caller_id"] == "4008001234"  # the ticket's shop's number
    assert out["ticket_id"] == ticket
    await asyncio.wait_for(fake.dialled.wait(), 5)
    (sent,) = fake.placed
    assert sent["Channel"] == "PJSIP/1001"  # the agent's own phone first
    assert sent["Context"] == "cti-callback"
    assert sent["Async"] == "true"
    assert sent["ChannelId"] == out["call_id"]
    variables = dict(v.split("=", 1) for v in sent["Variable"])
    assert variables["CTI_CALLBACK_DIAL"] == "PJSIP/13800138000@cti-trunk"
    assert variables["CTI_CALLBACK_CLID"] == "4008001234"
    assert variables["CTI_CALLBACK_AGENT"] == "PJSIP/1001"
    assert variables["CTI_CUSTOMER"] == "+8613800138000"
    assert variables["CTI_TICKET"] == str(ticket)


async def test_the_calls_end_lands_on_the_ticket_once(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    fake = FakeAsterisk()
    container.ami = fake  # type: ignore[assignment]
    tokens = await setup_desk(client, make_token)
    settings = container.click_to_call.settings

    async def call(ticket: int) -> str:
        r = await client.post(
            "/api/v1/calls", json={"ticket_id": ticket}, headers=auth(tokens["1001"])
        )
        assert r.status_code == 202, r.text
        return str(r.json()["call_id"])

    async def end(call_id: str, dial: str | None, talk_s: float | None = None) -> None:
        now = container.clock.now()
        async with container.sessions() as s, s.begin():
            await apply_end(
                s,
                CallEnd(call_id=call_id, customer_dial=dial, talk_s=talk_s, ended_at=now),
                settings,
                now,
            )

    async def ticket_of(ticket_id: int) -> dict[str, Any]:
        r = await client.get(f"/api/v1/tickets/{ticket_id}", headers=auth(tokens["1001"]))
        assert r.status_code == 200, r.text
        return dict(r.json())

    # Busy: the task goes back on the list, due later, with the attempt on its history.
    busy_ticket = await callback_ticket(client, tokens["admin"])
    busy = await call(busy_ticket)
    before = container.clock.now()
    await end(busy, "BUSY")
    t = await ticket_of(busy_ticket)
    assert t["status"] == "open"
    calls = [e for e in t["events"] if e["kind"] == "call"]
    assert [(e["linkedid"], e["body"]) for e in calls] == [(busy, "回拨 +8613800138000：客户忙线")]
    assert t["due_at"] is not None
    due = t["due_at"]
    assert due >= (before + timedelta(seconds=settings.requeue_after_s - 1)).isoformat()[:19]

    # Answered: the task is done; the event links the call (and so its recording).
    done_ticket = await callback_ticket(client, tokens["admin"])
    answered = await call(done_ticket)
    await end(answered, "ANSWER", 35.2)
    await end(answered, "ANSWER", 35.2)  # a job run twice writes nothing twice
    t = await ticket_of(done_ticket)
    assert t["status"] == "closed"
    calls = [e for e in t["events"] if e["kind"] == "call"]
    assert [(e["linkedid"], e["body"]) for e in calls] == [
        (answered, "回拨 +8613800138000：已接通，通话 35 秒")
    ]
    async with container.sessions() as s:
        row = await s.scalar(select(AgentCall).where(AgentCall.call_id == answered))
        assert row is not None
        assert row.status == AgentCallStatus.ANSWERED.value
        assert row.talk_s == pytest.approx(35.2)

    # The agent never picked up: nothing was dialled, so nothing is re-scheduled.
    missed_ticket = await callback_ticket(client, tokens["admin"])
    async with container.sessions() as s:
        due_before = (await s.get(Ticket, missed_ticket)).due_at  # type: ignore[union-attr]
    missed = await call(missed_ticket)
    await end(missed, None)
    t = await ticket_of(missed_ticket)
    assert t["status"] == "open"
    assert [e["body"] for e in t["events"] if e["kind"] == "call"] == [
        "回拨 +8613800138000：坐席话机未接听，未呼叫客户"
    ]
    async with container.sessions() as s:
        assert (await s.get(Ticket, missed_ticket)).due_at == due_before  # type: ignore[union-attr]
