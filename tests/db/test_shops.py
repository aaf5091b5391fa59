"""Shops and the do-not-call list through the API: who may do what, secrets, validation."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import httpx
import pytest

from cti.api import create_http_app
from cti.auth.tokens import create_token
from cti.container import Container
from cti.shops.service import get_shop, is_blocked, signing_secrets
from cti.webhooks.config import WebhookSettings


@pytest.fixture
def token(container: Container):  # type: ignore[no-untyped-def]
    async def make(*scopes: str, shop: str | None = None) -> dict[str, str]:
        async with container.sessions() as s, s.begin():
            issued = await create_token(
                s, "t", scopes or ("calls:originate",), None, now=container.clock.now(), shop=shop
            )
        return {"Authorization": f"Bearer {issued.token}"}

    return make


async def test_an_operator_creates_a_shop_and_sees_its_secret_once(
    client: httpx.AsyncClient, token: Any, container: Container
) -> None:
    op = await token()
    r = await client.put(
        "/api/v1/shops/shop-a",
        json={"name": "旗舰店", "webhook_url": "https://shop-a.example.com/hook"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert (body["window_start"], body["window_end"], body["timezone"]) == (
        "09:00",
        "21:00",
        "Asia/Shanghai",
    )
    again = await client.put("/api/v1/shops/shop-a", json={"max_concurrent": 5}, headers=op)
    assert again.status_code == 200 and again.json()["secret"] is None
    # Fields left out kept their value.
    assert again.json()["webhook_url"] == "https://shop-a.example.com/hook"
    assert again.json()["max_concurrent"] == 5
    got = await client.get("/api/v1/shops/shop-a", headers=op)
    assert got.status_code == 200 and "secret" not in got.json() and secret not in got.text
    async with container.sessions() as s:
        row = await get_shop(s, "shop-a")
        assert row is not None and row.secret == secret


async def test_a_shop_token_manages_its_own_shop_only(
    client: httpx.AsyncClient, token: Any
) -> None:
    op = await token()
    for shop in ("shop-a", "shop-b"):
        assert (await client.put(f"/api/v1/shops/{shop}", json={}, headers=op)).status_code == 201
    a = await token(shop="shop-a")
    ok = await client.put("/api/v1/shops/shop-a", json={"caller_id": "4008001234"}, headers=a)
    assert ok.status_code == 200 and ok.json()["caller_id"] == "4008001234"
    assert (await client.get("/api/v1/shops/shop-a", headers=a)).status_code == 200
    # Another shop: not found to read, forbidden to change.
    assert (await client.get("/api/v1/shops/shop-b", headers=a)).status_code == 404
    r = await client.put("/api/v1/shops/shop-b", json={"caller_id": "4008001234"}, headers=a)
    assert r.status_code == 403
    assert (await client.post("/api/v1/shops/shop-b/secret:rotate", headers=a)).status_code == 403
    # A shop token does not create its shop: an operator does.
    c = await token(shop="shop-c")
    r = await client.put("/api/v1/shops/shop-c", json={}, headers=c)
    assert r.status_code == 404 and "cti shop add shop-c" in r.json()["message"]
    # orders:write alone is not enough.
    orders = await token("orders:write", shop="shop-a")
    assert (await client.get("/api/v1/shops/shop-a", headers=orders)).status_code == 403


async def test_rotation_keeps_the_old_secret_valid_for_the_grace_period(
    client: httpx.AsyncClient, token: Any, container: Container
) -> None:
    op = await token()
    first = (await client.put("/api/v1/shops/shop-a", json={}, headers=op)).json()["secret"]
    r = await client.post("/api/v1/shops/shop-a/secret:rotate", headers=await token(shop="shop-a"))
    assert r.status_code == 200, r.text
    second = r.json()["secret"]
    assert second != first and r.json()["previous_secret_valid_until"] is not None
    now = container.clock.now()
    async with container.sessions() as s:
        row = await get_shop(s, "shop-a")
        assert row is not None
        assert signing_secrets(row, now) == [second, first]
        assert signing_secrets(row, now + timedelta(hours=24, seconds=1)) == [second]
    shown = (await client.get("/api/v1/shops/shop-a", headers=op)).json()
    assert first not in str(shown) and second not in str(shown)
    assert (await client.post("/api/v1/shops/nope/secret:rotate", headers=op)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"webhook_url": "ftp://shop.example.com/hook"}, "webhook_url"),
        ({"webhook_url": "https://user:pw@shop.example.com/hook"}, "webhook_url"),
        ({"webhook_url": "https://shop.example.com/hook#x"}, "webhook_url"),
        ({"webhook_url": "https://shop.example.com/" + "a" * 2000}, "webhook_url"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"window_start": "9:00"}, "window_start"),
        ({"window_end": "24:00"}, "window_end"),
        ({"window_start": "21:00", "window_end": "09:00"}, "window"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_concurrent": 101}, "max_concurrent"),
        ({"caller_id": "40a"}, "caller_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_shop_settings_are_422_and_change_nothing(
    client: httpx.AsyncClient, token: Any, body: dict[str, Any], field: str
) -> None:
    op = await token()
    r = await client.put("/api/v1/shops/shop-a", json=body, headers=op)
    assert r.status_code == 422, r.text
    assert field in r.json()["message"], r.json()
    assert (await client.get("/api/v1/shops/shop-a", headers=op)).status_code == 404


async def test_do_not_call_entries_per_shop_and_for_every_shop(
    client: httpx.AsyncClient, token: Any, container: Container
) -> None:
    op, a, b = await token(), await token(shop="shop-a"), await token(shop="shop-b")
    r = await client.put(
        "/api/v1/do-not-call/138 0013 8000", json={"reason": "asked us"}, headers=a
    )
    assert r.status_code == 201, r.text
    assert r.json() == {**r.json(), "phone": "+8613800138000", "shop": "shop-a"}
    again = await client.put("/api/v1/do-not-call/+8613800138000", json={}, headers=a)
    assert again.status_code == 200 and again.json()["reason"] == ""
    g = await client.put("/api/v1/do-not-call/13900139000", json={"reason": "x"}, headers=op)
    assert g.status_code == 201 and g.json()["shop"] == ""
    async with container.sessions() as s:
        assert await is_blocked(s, "+8613800138000", "shop-a")
        assert not await is_blocked(s, "+8613800138000", "shop-b")
        assert await is_blocked(s, "+8613900139000", "shop-b")
    # Each shop sees its own and the global entries; the operator sees all.
    seen_b = (await client.get("/api/v1/do-not-call", headers=b)).json()
    assert {(i["phone"], i["shop"]) for i in seen_b["items"]} == {("+8613900139000", "")}
    seen_a = (await client.get("/api/v1/do-not-call?phone=0086 138 0013 8000", headers=a)).json()
    assert [i["shop"] for i in seen_a["items"]] == ["shop-a"]
    assert (await client.get("/api/v1/do-not-call", headers=op)).json()["total"] == 2
    # B cannot remove A's entry, nor the global one; A removes its own.
    assert (await client.delete("/api/v1/do-not-call/13800138000", headers=b)).status_code == 404
    assert (await client.delete("/api/v1/do-not-call/13900139000", headers=b)).status_code == 404
    r = await client.delete("/api/v1/do-not-call/13800138000?shop=shop-b", headers=a)
    assert r.status_code == 403
    assert (await client.delete("/api/v1/do-not-call/13800138000", headers=a)).status_code == 204
    assert (await client.delete("/api/v1/do-not-call/13800138000", headers=a)).status_code == 404
    bad = await client.put("/api/v1/do-not-call/12345", json={}, headers=a)
    assert bad.status_code == 422 and "phone" in bad.json()["message"]
    bad = await client.get("/api/v1/do-not-call?phone=nonsense", headers=a)
    assert bad.status_code == 422


async def test_do_not_call_import_reports_bad_lines_by_number(
    client: httpx.AsyncClient, token: Any, container: Container
) -> None:
    a = await token(shop="shop-a")
    body = "\n".join(
        [
            "# numbers that asked not to be called",
            "138 0013 8000",
            "13900139000,投诉过",
            '{"phone": "+86 137 0000 0001", "reason": "json"}',
            "",
            "not a number",
            '{"phone": "13700000002", "colour": "red"}',
            "13700000003," + "x" * 300,
        ]
    )
    r = await client.post(
        "/api/v1/do-not-call:import",
        content=body.encode(),
        headers={**a, "Content-Type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["lines"], report["imported"], report["rejected"]) == (6, 3, 3), report
    assert [x["line"] for x in report["rejected_lines"]] == [6, 7, 8]
    async with container.sessions() as s:
        assert await is_blocked(s, "+8613700000001", "shop-a")
        assert not await is_blocked(s, "+8613700000001", "shop-b")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ],
)
async def test_a_webhook_url_into_our_own_network_is_refused(
    client: httpx.AsyncClient, token: Any, container: Container, url: str
) -> None:
    op = await token()
    r = await client.put("/api/v1/shops/shop-a", json={"webhook_url": url}, headers=op)
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert message.startswith("invalid webhook_url: must not point to")
    assert "CTI_WEBHOOKS_ALLOW_PRIVATE" in message
    assert (await client.get("/api/v1/shops/shop-a", headers=op)).status_code == 404
    # Nor does a change to an existing shop slip it in.
    assert (await client.put("/api/v1/shops/shop-a", json={}, headers=op)).status_code == 201
    r = await client.put("/api/v1/shops/shop-a", json={"webhook_url": url}, headers=op)
    assert r.status_code == 422
    assert (await client.get("/api/v1/shops/shop-a", headers=op)).json()["webhook_url"] is None


async def test_an_operator_may_allow_private_webhook_addresses(
    token: Any, container: Container
) -> None:
    services = dataclasses.replace(
        container.http_services(), webhooks=WebhookSettings(allow_private=True)
    )
    transport = httpx.ASGITransport(app=create_http_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as client:
        url = "http://127.0.0.1:8080/hook"
        r = await client.put(
            "/api/v1/shops/shop-a", json={"webhook_url": url}, headers=await token()
        )
        assert r.status_code == 201 and r.json()["webhook_url"] == url
