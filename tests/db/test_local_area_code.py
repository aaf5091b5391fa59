"""A local caller without area code is the same customer on every path (issue 13).

A Beijing trunk presents local callers without their area code: with
``CTI_ACD_LOCAL_AREA_CODE=10``, ``62345678`` is ``+86 10 6234 5678``, the
customer the shop stored as ``010 6234 5678``. Routing, the screen-pop, the
last agent and tickets (desk and voicemail) must all find that customer.
Before the one configured normaliser, only routing applied the area code.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.ami.codec import AmiDecoder
from cti.app import running
from cti.container import Container
from cti.events import Voicemail
from cti.settings import Settings

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
STORED = "010 6234 5678"
E164 = "+861062345678"
CALLER = "62345678"


@pytest.fixture
async def container(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Container]:
    """The service of a Beijing call centre (overrides the plain one of conftest)."""
    monkeypatch.setenv("CTI_ACD_LOCAL_AREA_CODE", "10")
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, ami_enabled=False, agi_enabled=False
    )
    async with running(settings, migrate=False) as c:
        yield c


def local_call() -> list[Mapping[str, str]]:
    """answered.ami (agent 1001 answers), as the trunk presents a local caller."""
    raw = (TRACES / "answered.ami").read_bytes().replace(b"13800138000", CALLER.encode())
    decoder = AmiDecoder()
    out = list(decoder.feed(raw))
    decoder.finish()
    return out


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hotline_env(caller: str) -> dict[str, str]:
    return {
        "agi_network_script": "hotline",
        "agi_callerid": caller,
        "agi_calleridname": "赵敏",
        "agi_extension": "4008001234",
        "agi_uniqueid": "1795430853.8",
    }


async def test_local_caller_without_area_code_is_one_customer_everywhere(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    shop = await make_token("orders:write")
    r = await client.put(
        "/api/v1/orders/BJ-1",
        headers=auth(shop),
        json={
            "shop": "tmall",
            "customer": {"phone": STORED, "name": "赵敏"},
            "items": [{"sku": "A", "name": "电饭煲", "qty": 1, "price": "299"}],
            "amount": "299",
            "status": "delivered",
            "created_at": "2026-11-01T08:00:00+08:00",
            "updated_at": "2026-11-02T08:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    customer_id = r.json()["customer_id"]

    # Routed as the known customer.
    decision = await container.hotline.decide(hotline_env(CALLER))
    assert decision.notes["caller_e164"] == E164
    assert decision.notes["lookup"] == "found"
    assert decision.notes["customer_id"] == str(customer_id)
    assert decision.notes["tier"] == "returning"

    # Popped with the customer and their orders while agent 1001's phone rings.
    hub = container.screenpop
    sub = hub.subscribe("1001")[0]
    for msg in local_call():
        container.pipeline.on_ami_event(msg)
    await hub.drain()
    frames = []
    while not sub.queue.empty():
        text = sub.queue.get_nowait()
        assert text is not None
        frames.append(json.loads(text))
    ringing = next(f for f in frames if f["type"] == "ringing")
    assert ringing["caller"]["number"] == CALLER
    assert ringing["customer"] is not None, "screen-pop shows the local caller as unknown"
    assert ringing["customer"]["id"] == customer_id
    assert ringing["customer"]["name"] == "赵敏"
    assert ringing["customer"]["phones"] == [E164]
    assert [o["order_id"] for o in ringing["orders"]] == ["BJ-1"]

    # Agent 1001 answered: remembered as the customer's last agent.
    await container.writer.flush()
    again = await container.hotline.decide(hotline_env(CALLER))
    # Preferred when free (the trace leaves 1001 idle), else noted as the last agent.
    assert (again.preferred_agent or again.notes.get("last_agent")) == "PJSIP/1001"
    assert hub.lookup is not None
    pop = await hub.lookup(CALLER)
    assert pop["customer"]["last_agent"] == "PJSIP/1001"
    assert [c["call_id"] for c in pop["last_calls"]] == ["1795430853.8"]

    # A ticket the agent opens for the caller's number is the customer's.
    agent = await make_token("agent", agent="1001")
    r = await client.post(
        "/api/v1/tickets",
        headers=auth(agent),
        json={"type": "question", "title": "物流查询", "caller_number": CALLER},
    )
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] == customer_id, "ticket not linked to the customer"

    # So is the callback task of a voicemail left by the same caller.
    await container.jobs.stop()  # the job runs here, not in the background runner
    await container.bus.deliver(
        Voicemail(
            uniqueid="1795432195.64",
            linkedid="1795432195.64",
            caller_number=CALLER,
            caller_name="赵敏",
            dnis="4008001234",
            reason="closed",
            recording_path=None,
            left_message=False,
        )
    )
    # The trace's recording has a catalog job too (its file is not here): count tickets, not jobs.
    assert await container.jobs.run_once() >= 1
    desk = await make_token("tickets:write")
    r = await client.get("/api/v1/tickets/callbacks", headers=auth(desk))
    [callback] = r.json()["items"]
    assert callback["customer_id"] == customer_id, "callback not linked to the customer"

    # The customer's open tickets show on the next pop.
    pop = await hub.lookup(CALLER)
    assert sorted(t["type"] for t in pop["open_tickets"]) == ["callback", "question"]
