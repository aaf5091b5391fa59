"""Who may see and change what (issue 14, rows 2 and 3), on SQLite and PostgreSQL.

Row 2: a token bound to one shop reads and writes that shop's orders only, and no shop
renames another shop's customer or makes them a VIP (queue priority). Row 3: an agent
token sees and changes its own tickets only, and notes only calls it took.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from cti.ami.codec import AmiDecoder
from cti.api import create_http_app
from cti.auth.models import ApiToken
from cti.calls.live import LiveCalls
from cti.calls.writer import CallRecordWriter
from cti.container import Container
from cti.customers.models import Customer
from cti.customers.service import find_by_phone, upsert_customer
from cti.orders.models import Order
from cti.screenpop.lookup import PopLookup
from cti.tickets.schemas import TicketIn, TicketType
from cti.tickets.service import create_callback_ticket, create_ticket
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from cti.tracking.tracker import CallTracker
from tests.db.test_calls import TRACES, expected, feed_trace
from tests.db.test_routing import NOW, env, router


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def order(shop: str, phone: str = "13800138000", days_ago: int = 3, **over: Any) -> dict[str, Any]:
    when = (NOW - timedelta(days=days_ago)).isoformat()
    body: dict[str, Any] = {
        "shop": shop,
        "customer": {"phone": phone, "name": "张伟"},
        "items": [{"sku": "SKU-1", "name": "保温杯", "qty": 1, "price": "100.00"}],
        "amount": "100.00",
        "status": "paid",
        "created_at": when,
        "updated_at": when,
    }
    body.update(over)
    return body


async def shop_token(container: Container, shop: str | None) -> str:
    from cti.auth.tokens import create_token

    async with container.sessions() as s, s.begin():
        issued = await create_token(
            s, f"shop {shop or 'all'}", ["orders:write"], now=container.clock.now(), shop=shop
        )
    return issued.token


# --- row 2: shop-bound tokens ------------------------------------------------------------


async def test_a_shop_token_reads_and_writes_only_its_own_shops_orders(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop_a = await shop_token(container, "shop-a")
    shop_b = await shop_token(container, "shop-b")
    r = await client.put("/api/v1/orders/A1", json=order("shop-a"), headers=auth(shop_a))
    assert r.status_code == 201, r.text

    # The reproduction: shop-b's token overwrites shop-a's order. Refused (403)
    # before anything is read, and the order is as shop-a left it.
    forged = order("shop-a", amount="0.01", status="cancelled", days_ago=1)
    r = await client.put("/api/v1/orders/A1", json=forged, headers=auth(shop_b))
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden" and "shop-b" in r.json()["message"]
    mine = await client.get("/api/v1/orders/A1", headers=auth(shop_a))  # ?shop may be left out
    assert mine.status_code == 200
    assert (mine.json()["status"], mine.json()["amount"]) == ("paid", "100.00")

    # Reading it: not found, word for word as an order that does not exist.
    theirs = await client.get("/api/v1/orders/A1", params={"shop": "shop-a"}, headers=auth(shop_b))
    missing = await client.get("/api/v1/orders/A9", params={"shop": "shop-a"}, headers=auth(shop_b))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["message"] == missing.json()["message"].replace("A9", "A1")
    assert (await client.get("/api/v1/orders/A1", headers=auth(shop_b))).status_code == 404

    # The import: the other shop's line is refused like a bad line, its own is kept.
    lines = [
        json.dumps({**forged, "order_id": "A1"}),
        json.dumps({**order("shop-b"), "order_id": "B1"}),
    ]
    r = await client.post(
        "/api/v1/orders:import",
        content="\n".join(lines).encode(),
        headers={**auth(shop_b), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["imported"], r.json()["rejected"]) == (1, 1)
    assert r.json()["rejected_lines"] == [
        {"line": 1, "reason": "shop 'shop-a' is not this token's shop"}
    ]
    async with container.sessions() as s:
        stored = dict((await s.execute(select(Order.order_id, Order.status))).all())
    assert stored == {"A1": "paid", "B1": "paid"}

    # An operator's token for every shop reads both, and must say which shop it means.
    admin = await shop_token(container, None)
    assert (await client.get("/api/v1/orders/A1", headers=auth(admin))).status_code == 422
    for oid, shop in (("A1", "shop-a"), ("B1", "shop-b")):
        r = await client.get(f"/api/v1/orders/{oid}", params={"shop": shop}, headers=auth(admin))
        assert r.status_code == 200


# --- row 2: a customer shared by shops -------------------------------------------------


async def routed(container: Container, phone: str) -> tuple[str, int]:
    decision = await router(container).decide(env(phone))
    return decision.notes["tier"], decision.priority


async def test_no_shop_renames_another_shops_customer_or_makes_them_a_vip(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop_a = await shop_token(container, "shop-a")
    shop_b = await shop_token(container, "shop-b")
    r = await client.put("/api/v1/orders/A1", json=order("shop-a"), headers=auth(shop_a))
    assert r.status_code == 201
    assert await routed(container, "13800138000") == ("returning", 5)

    # shop-b sends its own orders for the same number: a new name, an explicit VIP tier,
    # and enough paid orders to be a VIP by its figures. All stored, none counts.
    vip = order("shop-b", phone="+86 138-0013-8000", amount="9999.00")
    vip["customer"] = {"phone": "+86 138-0013-8000", "name": "李四", "tier": "vip"}
    for i in range(12):
        r = await client.put(f"/api/v1/orders/B{i}", json=vip, headers=auth(shop_b))
        assert r.status_code == 201, r.text
    assert await routed(container, "13800138000") == ("returning", 5)
    async with container.sessions() as s:
        customer = await find_by_phone(s, phones=container.phones, number="13800138000")
        assert customer is not None
        assert (customer.name, customer.tier, customer.shop) == ("张伟", None, "shop-a")
        assert len(list((await s.execute(select(Order.id))).scalars())) == 13
    lookup = PopLookup(container.session_maker, router(container).policy, phones=container.phones)
    pop = await lookup("13800138000")
    assert pop["customer"]["name"] == "张伟" and pop["customer"]["tier"] == "returning"
    assert pop["customer"]["order_count"] == 13  # the agent still sees every order

    # The same through an operator's import of both shops' lines.
    lines = [json.dumps({**vip, "order_id": "B99", "shop": "shop-b"})]
    r = await client.post(
        "/api/v1/orders:import",
        content="\n".join(lines).encode(),
        headers=auth(await shop_token(container, None)),
    )
    assert r.json()["imported"] == 1
    assert await routed(container, "13800138000") == ("returning", 5)

    # The shop that brought the customer may rename them and make them a VIP.
    own = order("shop-a", days_ago=2)
    own["customer"] = {"phone": "13800138000", "name": "张伟（金卡）", "tier": "vip"}
    r = await client.put("/api/v1/orders/A2", json=own, headers=auth(shop_a))
    assert r.status_code == 201
    assert await routed(container, "13800138000") == ("vip", 10)
    assert (await lookup("13800138000"))["customer"]["name"] == "张伟（金卡）"


async def test_a_shop_sets_the_tier_of_the_customers_it_brought(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop_b = await shop_token(container, "shop-b")
    # shop-b brought 13900139000: its paid orders make them a VIP (10 orders in the window).
    for i in range(10):
        body = order("shop-b", phone="13900139000", days_ago=i + 1)
        r = await client.put(f"/api/v1/orders/C{i}", json=body, headers=auth(shop_b))
        assert r.status_code == 201
    assert await routed(container, "13900139000") == ("vip", 10)
    # A customer an operator made (no shop yet) is brought by the first shop's order.
    async with container.sessions() as s, s.begin():
        await upsert_customer(
            s, phones=container.phones, phone="13700137000", name="", at=container.clock.now()
        )
    body = order("shop-b", phone="13700137000")
    body["customer"] = {"phone": "13700137000", "name": "王芳", "tier": "vip"}
    assert (
        await client.put("/api/v1/orders/D1", json=body, headers=auth(shop_b))
    ).status_code == 201
    assert await routed(container, "13700137000") == ("vip", 10)
    async with container.sessions() as s:
        row = (
            await s.execute(select(Customer.name, Customer.shop).where(Customer.name == "王芳"))
        ).one()
    assert tuple(row) == ("王芳", "shop-b")


async def test_another_shops_name_fills_a_customer_without_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop_a = await shop_token(container, "shop-a")
    shop_b = await shop_token(container, "shop-b")
    nameless = order("shop-a")
    nameless["customer"] = {"phone": "13800138000"}
    assert (
        await client.put("/api/v1/orders/A1", json=nameless, headers=auth(shop_a))
    ).status_code == 201
    named = order("shop-b")
    named["customer"] = {"phone": "13800138000", "name": "李四"}
    assert (
        await client.put("/api/v1/orders/B1", json=named, headers=auth(shop_b))
    ).status_code == 201
    async with container.sessions() as s:
        customer = await find_by_phone(s, phones=container.phones, number="13800138000")
    assert customer is not None and (customer.name, customer.shop) == ("李四", "shop-a")


# --- row 3: an agent's own tickets --------------------------------------------------------


async def test_an_agent_sees_and_changes_only_its_own_tickets(
    client: httpx.AsyncClient, container: Container, make_token: Any
) -> None:
    now = container.clock.now()
    async with container.sessions() as s, s.begin():

        async def ticket(title: str, assignee: str | None) -> int:
            data = TicketIn(type=TicketType.QUESTION, title=title, assignee=assignee)
            t = await create_ticket(s, data=data, actor="desk", phones=container.phones, now=now)
            return t.id

        async def callback(number: str, assignee: str | None) -> int:
            t = await create_callback_ticket(
                s,
                phones=container.phones,
                caller_number=number,
                recording_path=f"/var/spool/asterisk/voicemail/cti/{number}.wav",
                linkedid=None,
                now=now,
            )
            t.assignee = assignee
            return t.id

        mine = await ticket("1001 的工单", "1001")
        theirs = await ticket("1002 的工单", "1002")
        nobodys = await ticket("未指派", None)
        my_callback = await callback("13700000001", "1001")
        await callback("13700000002", "1002")
        await callback("13700000003", None)
    agent = auth(await make_token("agent", agent="1001"))

    # The issue's reproduction: 1001 reads, changes and comments on 1002's ticket.
    for tid in (theirs, nobodys):
        assert (await client.get(f"/api/v1/tickets/{tid}", headers=agent)).status_code == 404
        r = await client.patch(f"/api/v1/tickets/{tid}", headers=agent, json={"status": "closed"})
        assert r.status_code == 404
        r = await client.post(f"/api/v1/tickets/{tid}/comments", headers=agent, json={"body": "x"})
        assert r.status_code == 404
    assert (await client.get(f"/api/v1/tickets/{mine}", headers=agent)).status_code == 200
    r = await client.post(f"/api/v1/tickets/{mine}/comments", headers=agent, json={"body": "ok"})
    assert r.status_code == 201

    listed = (await client.get("/api/v1/tickets", headers=agent)).json()
    assert sorted(t["id"] for t in listed["items"]) == sorted([mine, my_callback])
    assert listed["total"] == 2
    other = await client.get("/api/v1/tickets", headers=agent, params={"assignee": "1002"})
    assert other.json()["items"] == [] and other.json()["total"] == 0

    # The callback list: no other caller's number or recording path reaches agent 1001.
    r = await client.get("/api/v1/tickets/callbacks", headers=agent)
    assert [t["id"] for t in r.json()["items"]] == [my_callback]
    assert "13700000002" not in r.text and "13700000003" not in r.text

    # The back desk sees everything.
    desk = auth(await make_token("tickets:write"))
    assert (await client.get("/api/v1/tickets", headers=desk)).json()["total"] == 6
    r = await client.get("/api/v1/tickets/callbacks", headers=desk)
    assert len(r.json()["items"]) == 3
    assert (await client.get(f"/api/v1/tickets/{theirs}", headers=desk)).status_code == 200


# --- row 3: notes on calls an agent took ------------------------------------------------


def _answered_by(trace: str, member: str) -> list[str]:
    return sorted(k for k, v in expected(trace).items() if v["agent"] == member)


async def test_an_agent_notes_only_the_calls_it_took(
    client: httpx.AsyncClient, container: Container, make_token: Any
) -> None:
    feed_trace(container, "concurrent.ami")
    await container.writer.flush()
    took_1001 = _answered_by("concurrent.ami", "1001")
    took_1002 = _answered_by("concurrent.ami", "1002")
    assert took_1001 and took_1002
    a1001 = auth(await make_token("agent", agent="1001"))
    a1002 = auth(await make_token("agent", agent="1002"))
    note = {"disposition": "resolved", "note": "已处理"}

    # The reproduction: a note on a call 1001 never took (and on no call at all).
    for linkedid in (took_1002[0], "1795000000.1"):
        r = await client.put(f"/api/v1/calls/{linkedid}/note", headers=a1001, json=note)
        assert r.status_code == 404, r.text
        assert (
            await client.get(f"/api/v1/calls/{linkedid}/notes", headers=a1001)
        ).status_code == 404
    r = await client.put(f"/api/v1/calls/{took_1002[0]}/note", headers=a1002, json=note)
    assert r.status_code == 200 and r.json()["agent"] == "1002"
    r = await client.put(f"/api/v1/calls/{took_1001[0]}/note", headers=a1001, json=note)
    assert r.status_code == 200 and r.json()["agent"] == "1001"
    # Nothing of 1001 reached 1002's call, which the back desk reads in full.
    desk = auth(await make_token("tickets:write"))
    r = await client.get(f"/api/v1/calls/{took_1002[0]}/notes", headers=desk)
    assert [n["agent"] for n in r.json()["items"]] == ["1002"]


async def test_an_agent_notes_a_call_while_it_talks_and_right_after(
    client: httpx.AsyncClient, container: Container, make_token: Any
) -> None:
    decoder = AmiDecoder()
    msgs = list(decoder.feed((TRACES / "answered.ami").read_bytes()))
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    for msg in msgs[: connect + 1]:  # 1795430853.8 answered by 1001, still talking
        container.pipeline.on_ami_event(msg)
    a1001 = auth(await make_token("agent", agent="1001"))
    a1002 = auth(await make_token("agent", agent="1002"))
    note = {"disposition": "resolved"}
    r = await client.put("/api/v1/calls/1795430853.8/note", headers=a1001, json=note)
    assert r.status_code == 200, r.text
    r = await client.put("/api/v1/calls/1795430853.8/note", headers=a1002, json=note)
    assert r.status_code == 404

    # Ended, not written yet (the database is slow): still the agent's call.
    writer = CallRecordWriter(container.session_maker)  # never started: holds what it gets
    started = NOW.timestamp()
    writer.submit(
        CallSummary(
            linkedid="1795439999.1",
            caller_number="13800138000",
            caller_name=None,
            dnis="4008001234",
            queue="hotline",
            outcome=Outcome.ANSWERED,
            agent="PJSIP/1001",
            started_at=started,
            ended_at=started + 30,
            wait_s=2.0,
            talk_s=28.0,
            hangup_cause=16,
            timeline=[
                DomainEvent(
                    DomainEventType.ANSWERED,
                    "1795439999.1",
                    started + 40,
                    {"agent": "PJSIP/1002", "again": True},  # transferred back, 1002 took it
                )
            ],
        )
    )
    services = dataclasses.replace(
        container.http_services(), live_calls=LiveCalls(CallTracker(), writer=writer)
    )
    app = create_http_app(services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cti.test"
    ) as pending:
        for who in (a1001, a1002):
            r = await pending.put("/api/v1/calls/1795439999.1/note", headers=who, json=note)
            assert r.status_code == 200, r.text
        a1003 = auth(await make_token("agent", agent="1003"))
        r = await pending.put("/api/v1/calls/1795439999.1/note", headers=a1003, json=note)
        assert r.status_code == 404


async def test_an_agent_token_bound_to_no_extension_is_nobodys_desk(
    client: httpx.AsyncClient, container: Container, make_token: Any
) -> None:
    # cti token create refuses it; a row written some other way must not see every ticket.
    token = await make_token("agent", agent="1001")
    async with container.sessions() as s, s.begin():
        row = (await s.execute(select(ApiToken))).scalar_one()
        row.agent_extension = None
    for path in ("/api/v1/tickets", "/api/v1/tickets/callbacks", "/api/v1/desk/stats"):
        assert (await client.get(path, headers=auth(token))).status_code == 403, path
