"""Tickets API: create from the desk, filters, comments, callbacks list, agent limits."""

from __future__ import annotations

from typing import Any

import httpx

from cti.container import Container
from cti.tickets.service import create_callback_ticket
from tests.db.test_calls import feed_trace


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_agent_opens_a_ticket_linked_to_call_order_and_customer(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    shop = await make_token("orders:write")
    r = await client.put(
        "/api/v1/orders/E777",
        headers=auth(shop),
        json={
            "shop": "jd",
            "customer": {"phone": "13800138000", "name": "张伟"},
            "items": [{"sku": "A", "name": "电饭煲", "qty": 1, "price": "299"}],
            "amount": "299",
            "status": "delivered",
            "created_at": "2026-11-01T08:00:00+08:00",
            "updated_at": "2026-11-02T08:00:00+08:00",
        },
    )
    assert r.status_code == 201
    agent = await make_token("agent", agent="1001")
    r = await client.post(
        "/api/v1/tickets",
        headers=auth(agent),
        json={
            "type": "return_exchange",
            "title": "电饭煲内胆有划痕，申请换货",
            "linkedid": "1795430853.8",
            "order_id": "E777",
            "due_at": "2026-11-25T18:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["shop"] == "jd" and t["customer_id"] is not None
    assert t["created_by"] == "agent 1001" and t["status"] == "open"
    # The agent's ticket is its own until it is handed over.
    assert t["assignee"] == "1001"
    c = await client.post(
        f"/api/v1/tickets/{t['id']}/comments", headers=auth(agent), json={"body": "已联系仓库"}
    )
    assert c.status_code == 201
    p = await client.patch(
        f"/api/v1/tickets/{t['id']}", headers=auth(agent), json={"status": "in_progress"}
    )
    assert p.status_code == 200, p.text
    desk = await make_token("tickets:write")
    p = await client.patch(
        f"/api/v1/tickets/{t['id']}",
        headers=auth(desk),
        json={"status": "waiting_customer", "assignee": "1002"},
    )
    assert p.status_code == 200
    kinds = [e["kind"] for e in p.json()["events"]]
    assert kinds == ["created", "comment", "status", "status", "assigned"]
    # Handed over to 1002: for agent 1001 it is gone, whatever it tries.
    gone = [
        await client.get(f"/api/v1/tickets/{t['id']}", headers=auth(agent)),
        await client.patch(
            f"/api/v1/tickets/{t['id']}", headers=auth(agent), json={"status": "closed"}
        ),
        await client.post(
            f"/api/v1/tickets/{t['id']}/comments", headers=auth(agent), json={"body": "x"}
        ),
    ]
    assert [r.status_code for r in gone] == [404, 404, 404]
    found = await client.get(
        "/api/v1/tickets",
        headers=auth(desk),
        params={"status": "waiting_customer", "assignee": "1002", "customer_id": t["customer_id"]},
    )
    assert [x["id"] for x in found.json()["items"]] == [t["id"]]
    none = await client.get("/api/v1/tickets", headers=auth(desk), params={"type": "complaint"})
    assert none.json()["total"] == 0


async def test_bad_ticket_input_and_scopes(client: httpx.AsyncClient, make_token: Any) -> None:
    desk = await make_token("tickets:write")
    r = await client.post(
        "/api/v1/tickets", headers=auth(desk), json={"type": "praise", "title": "x"}
    )
    assert r.status_code == 422 and "type" in r.json()["message"]
    r = await client.post(
        "/api/v1/tickets",
        headers=auth(desk),
        json={"type": "question", "title": "x", "order_id": "NOPE"},
    )
    assert r.status_code == 422 and "no order" in r.json()["message"]
    r = await client.post(
        "/api/v1/tickets",
        headers=auth(desk),
        json={"type": "question", "title": "x", "customer_id": 999},
    )
    assert r.status_code == 422 and r.json()["message"] == "no customer 999"
    shop = await make_token("orders:write")
    r = await client.get("/api/v1/tickets", headers=auth(shop))
    assert r.status_code == 403
    assert (await client.get("/api/v1/tickets/999", headers=auth(desk))).status_code == 404


async def test_voicemail_callbacks_reach_the_back_desk_list(
    client: httpx.AsyncClient, make_token: Any, container: Container
) -> None:
    async with container.sessions() as s, s.begin():
        await create_callback_ticket(
            s,
            phones=container.phones,
            caller_number="13900139000",
            recording_path="/var/spool/asterisk/voicemail/cti/1.wav",
            linkedid="1795431021.7",
            note="夜间留言",
            now=container.clock.now(),
        )
        await create_callback_ticket(
            s,
            phones=container.phones,
            caller_number=None,
            recording_path=None,
            linkedid=None,
            now=container.clock.now(),
        )
    desk = await make_token("tickets:write")
    r = await client.get("/api/v1/tickets/callbacks", headers=auth(desk))
    items = r.json()["items"]
    assert len(items) == 2
    assert items[0]["caller_number"] == "13900139000"
    assert items[0]["recording_path"].endswith("1.wav")
    assert items[1]["title"] == "回电 未知号码"


async def test_call_notes_and_own_stats(
    client: httpx.AsyncClient, make_token: Any, container: Container
) -> None:
    feed_trace(container, "answered.ami")  # 1795430853.8, answered by agent 1001
    await container.writer.flush()
    agent = await make_token("agent", agent="1001")
    r = await client.put(
        "/api/v1/calls/1795430853.8/note",
        headers=auth(agent),
        json={"disposition": "resolved", "note": "告知物流单号"},
    )
    assert r.status_code == 200 and r.json()["agent"] == "1001"
    r = await client.put(
        "/api/v1/calls/1795430853.8/note",
        headers=auth(agent),
        json={"disposition": "callback_needed"},
    )
    notes = await client.get("/api/v1/calls/1795430853.8/notes", headers=auth(agent))
    assert [(n["disposition"], n["note"]) for n in notes.json()["items"]] == [
        ("callback_needed", "")
    ]
    stats = await client.get("/api/v1/desk/stats", headers=auth(agent))
    assert stats.status_code == 200 and stats.json()["answered"] == 0  # answered in 2026-11
    desk = await make_token("tickets:write")
    assert (await client.get("/api/v1/desk/stats", headers=auth(desk))).status_code == 403
    page = await client.get("/agent")
    assert page.status_code == 200 and "坐席工作台" in page.text
