"""The hotline's decide(env) end to end: AGI variables in, the database, a decision out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from cti.acd.decision import Action
from cti.acd.service import HotlineRouter
from cti.acd.settings import AcdSettings, HotlineSettings
from cti.api import create_http_app
from cti.clock import FixedClock
from cti.container import Container
from cti.customers.phones import PhoneNormalizer
from cti.customers.service import record_answered, upsert_customer
from cti.db.engine import create_engine, session_factory
from cti.orders.schemas import CustomerIn, OrderIn
from cti.orders.service import OrderPhones, parse_order, upsert_orders
from cti.screenpop.lookup import PopLookup
from ivr.fastagi import FastAgiServer
from ivr.hotline import hotline_app
from tests.db.conftest import end_every_connection

# Monday 2026-11-23 10:00 in Shanghai.
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
VIP_BY_SPEND = "13800138000"
VIP_BY_COUNT = "13800138001"
RETURNING = "13800138002"
EXPLICIT_VIP = "13800138003"
LAPSED = "13800138004"
NO_ORDERS = "13800138005"
# The lookup's deadline is not what these tests are about (the timeout tests set their
# own): the longest allowed, so a loaded CI machine's cold first query is no "timeout".
OFFICE = AcdSettings(
    lookup_timeout=5,
    hotlines={"hotline": HotlineSettings(hours=["mon-fri 09:00-18:00"], queue_timeout=180)},
)


class Only:
    def __init__(self, *free: str) -> None:
        self.free = set(free)

    def is_available(self, interface: str) -> bool:
        return interface in self.free


def env(caller: str, dnis: str = "4008001234", name: str = "张伟") -> dict[str, str]:
    return {
        "agi_network_script": "hotline",
        "agi_callerid": caller,
        "agi_calleridname": name,
        "agi_extension": dnis,
        "agi_uniqueid": "1732350000.1",
    }


def _order(
    phone: str, n: int, amount: str, days_ago: int, status: str = "paid", **kw: Any
) -> tuple[str, OrderIn]:
    created = NOW - timedelta(days=days_ago)
    return f"{phone}-{n}", OrderIn(
        shop="tmall",
        customer=CustomerIn(phone=phone),
        amount=Decimal(amount),
        status=status,
        created_at=created,
        updated_at=created,
        **kw,
    )


async def _seed(container: Container) -> None:
    orders = [
        _order(VIP_BY_SPEND, 1, "3000.00", 10),
        _order(VIP_BY_SPEND, 2, "2000.00", 300),
        _order(VIP_BY_SPEND, 3, "9999.00", 20, status="cancelled"),
        *[_order(VIP_BY_COUNT, i, "20.00", i) for i in range(10)],
        _order(RETURNING, 1, "4999.99", 5),
        _order(RETURNING, 2, "9000.00", 5, currency="USD"),
        _order(RETURNING, 3, "9000.00", 5, status="refunded"),
        # Big spender, but two years ago: returning, not VIP.
        *[_order(LAPSED, i, "1000.00", 800 + i) for i in range(12)],
    ]
    phones = OrderPhones(container.phones)
    async with container.sessions() as session, session.begin():
        await upsert_orders(session, [parse_order(oid, o, phones) for oid, o in orders], now=NOW)
        await upsert_customer(
            session, phones=container.phones, phone=EXPLICIT_VIP, name="王芳", at=NOW, tier="vip"
        )
        await upsert_customer(
            session, phones=container.phones, phone=NO_ORDERS, name="刘洋", at=NOW
        )


def router(container: Container, settings: AcdSettings = OFFICE, **kw: Any) -> HotlineRouter:
    """As the container builds it: the caller lookup on a connection of the lookup pool."""
    kw.setdefault("clock", FixedClock(NOW))
    kw.setdefault("connect", container.lookup_engine.connect)
    return HotlineRouter(container.session_maker, settings, phones=container.phones, **kw)


@pytest.mark.parametrize(
    ("caller", "tier", "priority"),
    [
        (VIP_BY_SPEND, "vip", 10),
        ("+86 138 0013 8000", "vip", 10),
        ("008613800138000", "vip", 10),
        (VIP_BY_COUNT, "vip", 10),
        (RETURNING, "returning", 5),
        (EXPLICIT_VIP, "vip", 10),
        (LAPSED, "returning", 5),
        (NO_ORDERS, "new", 0),
        ("13900139000", "new", 0),
    ],
)
async def test_tier_and_priority_from_the_database(
    container: Container, caller: str, tier: str, priority: int
) -> None:
    await _seed(container)
    decision = await router(container).decide(env(caller))
    assert decision.action is Action.QUEUE
    assert decision.notes["tier"] == tier
    assert decision.priority == priority
    variables = decision.channel_variables()
    assert variables["CTI_PRIORITY"] == str(priority)
    assert variables["CTI_QUEUE"] == "hotline"
    assert variables["CTI_QUEUE_TIMEOUT"] == "180"
    assert variables["CTI_CSAT"] == "yes"  # the survey is on unless the hotline says no


async def test_the_tier_a_call_is_routed_by_is_the_tier_its_agent_sees(
    container: Container,
) -> None:
    # Routing reads only as much of the history as tells the tier; the pop shows it all.
    many_small, nine_paid = "13800138006", "13800138007"
    orders = [
        *[_order(many_small, i, "10.00", i) for i in range(25)],
        *[_order(nine_paid, i, "100.00", i) for i in range(9)],
        *[_order(nine_paid, 100 + i, "900.00", i, status="cancelled") for i in range(30)],
    ]
    async with container.sessions() as session, session.begin():
        phones = OrderPhones(container.phones)
        await upsert_orders(session, [parse_order(oid, o, phones) for oid, o in orders], now=NOW)
    await _seed(container)
    r = router(container)
    pop = PopLookup(
        container.session_maker, r.policy, phones=container.phones, clock=FixedClock(NOW)
    )
    callers = [VIP_BY_SPEND, VIP_BY_COUNT, RETURNING, EXPLICIT_VIP, LAPSED, NO_ORDERS]
    seen = {}
    for caller in [*callers, many_small, nine_paid]:
        routed = (await r.decide(env(caller))).notes["tier"]
        shown = (await pop(caller))["customer"]
        assert routed == shown["tier"], caller
        seen[caller] = (routed, shown["order_count"])
    assert seen[many_small] == ("vip", 25)
    assert seen[nine_paid] == ("returning", 39)


@pytest.mark.parametrize("caller", ["", "anonymous", "<unknown>", "Restricted", "0000", "10086"])
async def test_withheld_caller_is_a_new_customer_never_an_error(
    container: Container, caller: str
) -> None:
    await _seed(container)
    r = router(container)
    decision = await r.decide(env(caller))
    assert (decision.action, decision.priority, decision.notes["tier"]) == (Action.QUEUE, 0, "new")
    assert not decision.reason.startswith("fallback")
    assert "lookup" not in decision.notes  # nothing to look up: no query at all
    assert r.fallbacks == 0


async def test_last_agent_is_preferred_when_available(container: Container) -> None:
    await _seed(container)
    async with container.sessions() as session, session.begin():
        await record_answered(
            session,
            phones=container.phones,
            caller_number="+86 138-0013-8002",
            agent_interface="PJSIP/1001",
            at=NOW - timedelta(hours=3),
        )
    free = await router(container, availability=Only("PJSIP/1001")).decide(env(RETURNING))
    assert free.preferred_agent == "PJSIP/1001"
    assert free.channel_variables()["CTI_PREFERRED_TIMEOUT"] == "8"
    busy = await router(container, availability=Only("PJSIP/1002")).decide(env(RETURNING))
    assert busy.preferred_agent is None
    assert busy.priority == 5


async def test_closed_and_holiday_go_to_voicemail(container: Container, make_token: Any) -> None:
    await _seed(container)
    sunday = router(container, clock=FixedClock(NOW - timedelta(days=1)))
    closed = await sunday.decide(env(VIP_BY_SPEND))
    assert (closed.action, closed.reason) == (Action.VOICEMAIL, "closed")
    assert closed.channel_variables()["CTI_ACTION"] == "voicemail"

    # The API's write is seen at once by the router the HTTP layer was given.
    hotline = router(container, settings=AcdSettings(calendar_ttl=3600, lookup_timeout=5))
    assert (await hotline.decide(env(VIP_BY_SPEND))).action is Action.QUEUE
    app = create_http_app(dataclasses.replace(container.http_services(), hotline=hotline))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cti.test")
    headers = {"Authorization": f"Bearer {await make_token('agents:write')}"}
    r = await client.put(
        "/api/v1/hotlines/hotline/holidays/2026-11-23",
        json={"kind": "holiday", "name": "店庆"},
        headers=headers,
    )
    assert r.status_code == 201
    holiday = await hotline.decide(env(VIP_BY_SPEND))
    assert (holiday.action, holiday.reason) == (Action.VOICEMAIL, "holiday")
    assert holiday.notes["day"] == "店庆"
    assert holiday.notes["tier"] == "vip"
    r = await client.delete("/api/v1/hotlines/hotline/holidays/2026-11-23", headers=headers)
    assert r.status_code == 204
    assert (await hotline.decide(env(VIP_BY_SPEND))).action is Action.QUEUE
    await client.aclose()


async def test_make_up_working_day_opens_the_weekend(container: Container) -> None:
    from cti.acd.holidays import put_day
    from cti.acd.schemas import HotlineDayIn

    saturday = NOW + timedelta(days=5)
    async with container.sessions() as session, session.begin():
        await put_day(session, "hotline", saturday.date(), HotlineDayIn(kind="workday"), NOW)
    decision = await router(container, clock=FixedClock(saturday)).decide(env(RETURNING))
    assert decision.action is Action.QUEUE
    assert decision.reason.endswith("workday")


async def test_database_down_falls_back_without_raising(container: Container) -> None:
    engine = create_engine("postgresql+asyncpg://cti:cti@127.0.0.1:1/nowhere")
    try:
        r = HotlineRouter(
            session_factory(engine), OFFICE, phones=PhoneNormalizer(), clock=FixedClock(NOW)
        )
        decision = await r.decide(env(VIP_BY_SPEND))
    finally:
        await engine.dispose()
    assert decision.action is Action.QUEUE
    assert decision.queue == "hotline"
    assert decision.reason.startswith("fallback: database error")
    assert decision.notes["calendar"].startswith("stale")
    assert r.fallbacks == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_caller_is_found_after_the_server_dropped_the_lookup_connections(
    container: Container, database_url: str
) -> None:
    await _seed(container)
    # The service's own lookup pool: autocommit, no ping before a connection is used,
    # the lookup on a plain connection (as the container builds it).
    r = HotlineRouter(
        session_factory(container.lookup_engine),
        OFFICE,
        phones=container.phones,
        clock=FixedClock(NOW),
        connect=container.lookup_engine.connect,
    )
    assert (await r.decide(env(VIP_BY_SPEND))).notes["lookup"] == "found"
    # A restart or failover: the server ends every session of the database.
    assert await end_every_connection(database_url) >= 1
    decision = await r.decide(env(VIP_BY_SPEND))
    assert decision.notes["lookup"] == "found"
    assert decision.notes["tier"] == "vip"
    assert r.fallbacks == 0


class _HangingDatabase:
    """A database that never answers; counts the queries the router gave up on."""

    def __init__(self) -> None:
        self.asked = 0
        self.abandoned = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[_HangingDatabase]:
        yield self

    async def execute(self, *args: Any, **kw: Any) -> Any:
        self.asked += 1
        try:
            await asyncio.Event().wait()  # never set: only a timeout ends this query
        except asyncio.CancelledError:
            self.abandoned += 1
            raise


async def test_slow_database_is_bounded_by_the_lookup_timeout() -> None:
    database = _HangingDatabase()
    r = HotlineRouter(
        database,  # type: ignore[arg-type]
        AcdSettings(lookup_timeout=0.1),
        phones=PhoneNormalizer(),
        clock=FixedClock(NOW),
    )
    # Only the router's own lookup timeout can end decide(); the outer bound only
    # turns a regression into a failure instead of a hang.
    async with asyncio.timeout(60):
        decision = await r.decide(env(VIP_BY_SPEND))
    assert decision.action is Action.QUEUE
    assert decision.reason == "fallback: timeout"
    assert decision.notes["lookup"] == "timeout"
    assert database.asked >= 1
    assert database.abandoned == database.asked  # no query left running behind the call


async def test_closed_hours_hold_even_when_the_database_is_down() -> None:
    r = HotlineRouter(
        _HangingDatabase(),  # type: ignore[arg-type]
        AcdSettings(lookup_timeout=0.05, hotlines=OFFICE.hotlines),
        phones=PhoneNormalizer(),
        clock=FixedClock(NOW - timedelta(days=1)),
    )
    decision = await r.decide(env(VIP_BY_SPEND))
    assert (decision.action, decision.reason) == (Action.VOICEMAIL, "closed")
    assert decision.notes["lookup"] == "timeout"


async def test_through_the_fastagi_server(container: Container) -> None:
    await _seed(container)
    r = router(container, availability=Only("PJSIP/1001"))
    server = FastAgiServer("127.0.0.1", 0, {"hotline": hotline_app(r.decide)})
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        headers = "".join(f"{k}: {v}\n" for k, v in env("+86 138 0013 8000").items()) + "\n"
        writer.write(headers.encode())
        commands = []
        while line := await asyncio.wait_for(reader.readline(), 5):
            commands.append(line.decode().strip())
            writer.write(b"200 result=1\n")
        writer.close()
    finally:
        await server.stop()
    assert 'SET VARIABLE CTI_PRIORITY "10"' in commands
    assert 'SET VARIABLE CTI_ACTION "queue"' in commands
    assert any(c.startswith('SET VARIABLE CTI_REASON "tier=vip') for c in commands)
