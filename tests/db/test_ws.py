"""WS /ws/agent end to end: a real HTTP server on the test's loop, recorded AMI traffic
fed through the container, a WebSocket client; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from cti.ami.codec import AmiDecoder
from cti.container import Container
from cti.tickets.schemas import TicketIn, TicketType
from cti.tickets.service import create_ticket
from tests.db.conftest import end_every_connection

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"


def messages(name: str) -> list[Mapping[str, str]]:
    decoder = AmiDecoder()
    out = list(decoder.feed((TRACES / name).read_bytes()))
    decoder.finish()
    return out


async def frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return data


async def until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        f = await frame(ws)
        if f["type"] == kind:
            return f


@asynccontextmanager
async def connect_as(
    url: str, token: str, last_event_id: int | None = None
) -> AsyncIterator[ClientConnection]:
    """A WebSocket that sent its token in the first message (never in the URL)."""
    async with connect(url) as ws:
        first: dict[str, Any] = {"token": token}
        if last_event_id is not None:
            first["last_event_id"] = last_event_id
        await ws.send(json.dumps(first))
        yield ws


def feed(container: Container, msgs: list[Mapping[str, str]]) -> None:
    for msg in msgs:
        container.pipeline.on_ami_event(msg)


async def seed_customer(container: Container, client: Any, make_token: Any) -> int:
    token = await make_token("orders:write")
    for i, (status, items) in enumerate(
        [("delivered", [("SKU-9", "保温杯")]), ("shipped", [("SKU-7", "羽绒服")])]
    ):
        body = {
            "shop": "tmall",
            "customer": {"phone": "+86 138-0013-8000", "name": "张伟"},
            "items": [{"sku": s, "name": n, "qty": 1, "price": "199.00"} for s, n in items],
            "amount": "199.00",
            "status": status,
            "created_at": f"2026-11-2{i}T10:00:00+08:00",
            "updated_at": f"2026-11-2{i}T10:00:00+08:00",
        }
        r = await client.put(
            f"/api/v1/orders/E2026112{i}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
    async with container.sessions() as s, s.begin():
        t = await create_ticket(
            s,
            data=TicketIn(
                type=TicketType.RETURN_EXCHANGE, title="羽绒服换尺码", order_id="E20261121"
            ),
            actor="agent 1002",
            phones=container.phones,
            now=container.clock.now(),
        )
        assert t.customer_id is not None
        return t.customer_id


async def test_ringing_pop_carries_customer_orders_tickets_and_last_calls(
    container: Container, server: str, client: Any, make_token: Any
) -> None:
    await seed_customer(container, client, make_token)
    trace = messages("answered.ami")
    feed(container, trace)  # an earlier call of the same caller...
    await container.screenpop.drain()
    await container.writer.flush()
    token = await make_token("agent", agent="1001")
    async with connect_as(f"{server}/ws/agent", token) as ws:
        hello = await frame(ws)
        assert hello["type"] == "hello" and hello["extension"] == "1001"
        called = next(i for i, m in enumerate(trace) if m.get("Event") == "AgentCalled")
        feed(container, trace[: called + 1])  # ...and the same call again, up to the ring
        pop = await until(ws, "ringing")
        assert pop["call_id"] == "1795430853.8"
        assert pop["caller"] == {"number": "13800138000", "name": "张伟"}
        assert pop["customer"]["name"] == "张伟"
        assert pop["customer"]["tier"] == "returning"
        assert [o["order_id"] for o in pop["orders"]] == ["E20261121", "E20261120"]
        assert pop["orders"][0]["items"][0]["name"] == "羽绒服"
        assert [t["title"] for t in pop["open_tickets"]] == ["羽绒服换尺码"]
        assert pop["history"][0]["kind"] == "created"
        assert pop["last_calls"][0]["outcome"] == "answered"
        assert pop["last_calls"][0]["agent"] == "PJSIP/1001"
        feed(container, trace[called + 1 :])
        assert (await until(ws, "answered"))["call_id"] == pop["call_id"]
        ended = await until(ws, "ended")
        assert ended["outcome"] == "answered"


async def test_reconnect_with_last_event_id_gets_missed_frames(
    container: Container, server: str, make_token: Any
) -> None:
    token = await make_token("agent", agent="1001")
    trace = messages("answered.ami")
    called = next(i for i, m in enumerate(trace) if m.get("Event") == "AgentCalled")
    async with connect_as(f"{server}/ws/agent", token) as ws:
        await frame(ws)
        feed(container, trace[: called + 1])
        ringing = await until(ws, "ringing")
    feed(container, trace[called + 1 :])  # answered and ended while the agent was away
    await container.screenpop.drain()
    async with connect_as(f"{server}/ws/agent", token, last_event_id=ringing["id"]) as ws:
        hello = await frame(ws)
        assert hello["gap"] is False
        missed = []
        while len(missed) < 2:
            f = await frame(ws)
            if f["type"] != "agent_state":  # the agent's own states come too
                missed.append(f)
        assert [f["type"] for f in missed] == ["answered", "ended"]
        assert all(f["id"] > ringing["id"] for f in missed)
        assert {f["call_id"] for f in missed} == {ringing["call_id"]}


async def test_an_agent_never_receives_another_agents_pop(
    container: Container, server: str, make_token: Any
) -> None:
    a1001 = await make_token("agent", agent="1001")
    a1003 = await make_token("agent", agent="1003")
    async with (
        connect_as(f"{server}/ws/agent", a1001) as ws1,
        connect_as(f"{server}/ws/agent", a1003) as ws3,
    ):
        await frame(ws1)
        await frame(ws3)
        trace = messages("concurrent.ami")
        feed(container, trace)
        await container.screenpop.drain()
        pops1 = []
        while len(pops1) < 2:
            f = await frame(ws1)
            if f["type"] == "ringing":
                pops1.append(f["call_id"])
        assert pops1 == ["1795431134.18", "1795431135.25"]
        pops3 = []
        while True:
            f = await frame(ws3)
            assert f.get("call_id") in (None, "1795431135.22")
            if f["type"] == "ringing":
                pops3.append(f)
            if f["type"] == "ended":
                break
        assert [p["caller"]["number"] for p in pops3] == ["010-12345678"]


async def test_two_connections_of_one_agent_both_receive(
    container: Container, server: str, make_token: Any
) -> None:
    token = await make_token("agent", agent="1001")
    async with (
        connect_as(f"{server}/ws/agent", token) as tab1,
        connect_as(f"{server}/ws/agent", token) as tab2,
    ):
        assert (await frame(tab1))["extension"] == "1001"
        assert (await frame(tab2))["extension"] == "1001"
        feed(container, messages("answered.ami"))
        r1, r2 = await until(tab1, "ringing"), await until(tab2, "ringing")
        assert r1 == r2


async def closed_with(ws: ClientConnection) -> tuple[str, int]:
    """The error frame the server sent, then the close code it closed with."""
    err = await frame(ws)
    assert err["type"] == "error"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await frame(ws)
    assert closed.value.rcvd is not None
    return err["message"], closed.value.rcvd.code


async def test_tokens_without_the_agent_scope_are_refused(
    container: Container, server: str, make_token: Any
) -> None:
    shop = await make_token("orders:write", "tickets:write")
    async with connect_as(f"{server}/ws/agent", shop) as ws:
        message, code = await closed_with(ws)
        assert code == 4403 and "agent" in message
    async with connect_as(f"{server}/ws/agent", "cti_nope_nope") as ws:
        assert (await closed_with(ws))[1] == 4401
    async with connect(f"{server}/ws/agent") as ws:
        await ws.send(json.dumps({"hello": "no token"}))
        assert (await closed_with(ws))[1] == 4401


async def test_supervisor_sees_live_calls_and_needs_stats_scope(
    container: Container, server: str, make_token: Any
) -> None:
    agent = await make_token("agent", agent="1001")
    async with connect_as(f"{server}/ws/supervisor", agent) as ws:
        assert (await closed_with(ws))[1] == 4403
    sup = await make_token("stats:read")
    async with connect_as(f"{server}/ws/supervisor", sup) as ws:
        snap = await frame(ws)
        assert snap["type"] == "snapshot" and snap["calls"] == []
        feed(container, messages("answered.ami"))
        events = []
        while not events or events[-1] != "ended":
            f = await frame(ws)
            if f["type"] == "call":
                events.append(f["event"])
        assert events[0] == "call_started" and "answered" in events


def pops_written(container: Container) -> float:
    """How many pops the service has timed as written to a WebSocket."""
    value = container.metrics.registry.get_sample_value("cti_screenpop_seconds_count")
    return value or 0.0


async def test_the_pop_is_written_within_the_ami_read_that_rang_the_agent(
    container: Container, server: str, make_token: Any
) -> None:
    """Once the caller was looked up (as the call arrived), the ``ringing`` frame leaves
    in the same read of AMI bytes as its ``AgentCalled``: it does not wait for a later
    turn of the event loop behind whatever else the service has to do."""
    trace = messages("answered.ami")
    called = next(i for i, m in enumerate(trace) if m.get("Event") == "AgentCalled")
    token = await make_token("agent", agent="1001")
    async with connect_as(f"{server}/ws/agent", token) as ws:
        assert (await frame(ws))["type"] == "hello"
        feed(container, trace[:called])  # the call arrives: its caller is looked up
        for _ in range(100):  # the lookup runs on the loop: let it finish
            await asyncio.sleep(0.01)
            if not container.screenpop._prefetching:
                break
        before = pops_written(container)
        receipt = container.ami_receipt
        receipt.reading()  # the read of the AgentCalled bytes...
        try:
            feed(container, trace[called : called + 1])
            written = pops_written(container)  # ...and, in it, the frame was written
        finally:
            receipt.done()
        assert written == before + 1
        pop = await until(ws, "ringing")
        assert pop["call_id"] == "1795430853.8" and pop["caller"]["number"] == "13800138000"
        feed(container, trace[called + 1 :])
        assert (await until(ws, "answered"))["call_id"] == pop["call_id"]
        assert (await until(ws, "ended"))["call_id"] == pop["call_id"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_pop_finds_the_caller_after_the_server_dropped_the_services_connections(
    container: Container, database_url: str, client: Any, make_token: Any
) -> None:
    """After a restart or failover PostgreSQL has ended every connection of the service's
    database; the pop reads on the service's pool, which pings a connection before use,
    so its next lookup still finds the caller and their orders."""
    await seed_customer(container, client, make_token)
    lookup = container.screenpop.lookup
    assert lookup is not None
    assert (await lookup("13800138000"))["customer"]["name"] == "张伟"
    assert await end_every_connection(database_url) >= 1
    again = await lookup("13800138000")
    assert again["customer"]["name"] == "张伟"
    assert [o["order_id"] for o in again["orders"]] == ["E20261121", "E20261120"]
