"""Orders in from shop backends: PUT upsert and the NDJSON bulk import, on both databases."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select

from cti.container import Container
from cti.customers.models import Customer, CustomerPhone
from cti.customers.service import find_by_phone
from cti.orders.models import Order
from cti.orders.schemas import CustomerIn, ItemIn, OrderIn
from cti.orders.service import OrderPhones, last_orders, parse_order, upsert_orders

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def order(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shop": "tmall-flagship",
        "customer": {"phone": "+86 138-0013-8000", "name": "张伟"},
        "items": [{"sku": "SKU-1", "name": "保温杯", "qty": 2, "price": "59.90"}],
        "amount": "119.80",
        "status": "paid",
        "created_at": "2026-11-20T10:00:00+08:00",
        "updated_at": "2026-11-20T10:05:00+08:00",
        "shipping_address": "北京市朝阳区建国路 1 号",
    }
    body.update(over)
    return body


async def put(client: httpx.AsyncClient, token: str, oid: str, body: Any) -> httpx.Response:
    return await client.put(
        f"/api/v1/orders/{oid}", json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def test_put_creates_then_updates_idempotently(
    client: httpx.AsyncClient, make_token: Any, container: Container
) -> None:
    token = await make_token("orders:write")
    first = await put(client, token, "E20261120001", order())
    assert first.status_code == 201, first.text
    assert first.json()["currency"] == "CNY"
    again = await put(client, token, "E20261120001", order())
    assert again.status_code == 200
    newer = await put(
        client,
        token,
        "E20261120001",
        order(status="shipped", updated_at="2026-11-21T09:00:00+08:00"),
    )
    assert newer.json()["status"] == "shipped"
    # A late push of the older copy does not roll the order back.
    late = await put(client, token, "E20261120001", order())
    assert late.json()["status"] == "shipped"
    async with container.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 1
        found = await find_by_phone(s, phones=container.phones, number="13800138000")
        assert found is not None and found.name == "张伟"
        assert await s.scalar(select(func.count()).select_from(Customer)) == 1


async def test_put_rejects_bad_input_with_clear_json(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    token = await make_token("orders:write")
    cases = [
        (order(created_at="2026-11-20T10:00:00"), "created_at"),
        (order(amount="-1"), "amount"),
        (order(currency="rmb"), "currency"),
        (order(customer={"phone": "anonymous", "name": "x"}), "customer.phone"),
        (order(items=[{"sku": "A", "name": "杯", "qty": 0, "price": "1"}]), "items"),
        (order(updated_at="2026-11-19T10:00:00+08:00"), "updated_at"),
    ]
    for body, field in cases:
        r = await put(client, token, "E1", body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"] == "invalid_input"
        assert field in r.json()["message"], r.json()
    r = await put(client, token, "bad id!", order())
    assert r.status_code == 422
    assert "order_id" in r.json()["message"]


async def test_orders_need_the_orders_scope(client: httpx.AsyncClient, make_token: Any) -> None:
    assert (await client.put("/api/v1/orders/E1", json=order())).status_code == 401
    token = await make_token("stats:read")
    r = await put(client, token, "E1", order())
    assert r.status_code == 403


async def test_import_reports_bad_lines_and_keeps_the_good_ones(
    client: httpx.AsyncClient, make_token: Any, container: Container
) -> None:
    token = await make_token("orders:write")
    lines = [
        json.dumps(order(order_id="A1"), ensure_ascii=False),
        "{not json",
        json.dumps(order(order_id="A2", customer={"phone": "010-12345678", "name": "李娜"})),
        "",
        json.dumps(order(order_id="A3", amount="abc")),
        json.dumps(order(order_id="A4", customer={"phone": "13900139000", "tier": "vip"})),
        json.dumps(order(order_id="A5", customer={"phone": "12345", "name": "短号"})),
        "[1, 2]",
        json.dumps(
            order(
                order_id="A2",
                customer={"phone": "01012345678"},
                status="cancelled",
                updated_at="2026-11-22T00:00:00Z",
            )
        ),
    ]
    body = ("\n".join(lines) + "\n").encode()

    async def stream() -> Any:
        for i in range(0, len(body), 7):  # lines split across chunks
            yield body[i : i + 7]

    r = await client.post(
        "/api/v1/orders:import",
        content=stream(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["lines"] == 8
    assert report["imported"] == 4  # A1, A2, A4, A2 again
    rejected = {x["line"]: x["reason"] for x in report["rejected_lines"]}
    assert set(rejected) == {2, 5, 7, 8}
    assert "JSON" in rejected[2]
    assert "amount" in rejected[5]
    assert "phone" in rejected[7]
    assert report["rejected"] == 4
    async with container.sessions() as s:
        stored = dict((await s.execute(select(Order.order_id, Order.status))).all())
        assert stored == {"A1": "paid", "A2": "cancelled", "A4": "paid"}
        vip = await find_by_phone(s, phones=container.phones, number="+8613900139000")
        assert vip is not None and vip.tier == "vip"
        beijing = await find_by_phone(s, phones=container.phones, number="01012345678")
        assert beijing is not None and beijing.name == "李娜"
        assert await s.scalar(select(func.count()).select_from(CustomerPhone)) == 3


async def test_cli_import_prints_rejected_lines(container: Container, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from cti.cli import app

    path = tmp_path / "orders.ndjson"
    good = [json.dumps(order(order_id=f"C{i}"), ensure_ascii=False) for i in range(5)]
    path.write_text("\n".join([*good[:2], '{"shop": "x"}', *good[2:]]) + "\n", encoding="utf-8")
    env = {
        "CTI_DATABASE_URL": container.settings.effective_database_url,
        "CTI_DATA_DIR": str(tmp_path),
    }
    args = ["orders", "import", str(path), "--batch-size", "2"]
    # The command runs its own event loop, so it runs in a thread here.
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert result.exit_code == 1, result.output  # some lines rejected
    assert "line 3:" in result.output
    assert "imported 5" in result.output
    async with container.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 5


async def test_orders_upsert_by_shop_and_order_id(container: Container) -> None:
    phones = OrderPhones(container.phones)
    first = OrderIn(
        shop="tmall",
        customer=CustomerIn(phone="13800138000", name="张伟"),
        items=[ItemIn(sku="A1", name="保温杯", qty=1, price=Decimal("199.90"))],
        amount=Decimal("199.90"),
        status="paid",
        created_at=T0,
        updated_at=T0,
        shipping_address={"city": "北京", "line": "朝阳区建国路 1 号"},
    )
    async with container.sessions() as session, session.begin():
        # Same order id in another shop is another order.
        jd = first.model_copy(update={"shop": "jd"})
        await upsert_orders(
            session,
            [parse_order("SO-1001", first, phones), parse_order("SO-1001", jd, phones)],
            now=T0,
        )
    async with container.sessions() as session, session.begin():
        updated = first.model_copy(
            update={"status": "shipped", "updated_at": T0 + timedelta(hours=1)}
        )
        await upsert_orders(
            session, [parse_order("SO-1001", updated, phones)], now=T0 + timedelta(hours=1)
        )
    async with container.sessions() as session:
        customer = await find_by_phone(session, phones=container.phones, number="+86 138 0013 8000")
        assert customer is not None
        orders = await last_orders(session, customer_id=customer.id)
    assert sorted((o.shop, o.status) for o in orders) == [("jd", "paid"), ("tmall", "shipped")]
    tmall = next(o for o in orders if o.shop == "tmall")
    assert tmall.amount == Decimal("199.90")
    assert tmall.items[0]["name"] == "保温杯"
    assert tmall.shipping_address == {"city": "北京", "line": "朝阳区建国路 1 号"}
