"""Confirmation requests through the API: idempotency, shops, do-not-call, withdrawal."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from cti.auth.tokens import create_token
from cti.confirmations.models import Confirmation, ConfirmationAttempt
from cti.container import Container
from cti.jobs.models import Job


def request(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": "E20261120001",
        "phone": "138 0013 8000",
        "amount": "2300.50",
        "item_count": 3,
        "reason": "high_amount",
    }
    body.update(over)
    return body


ORDER_IDS = ("E20261120001", "O-0", "O-1", "O-2")
"""The orders the tests ask about; both shops pushed each (shops push orders first)."""


async def push_order(
    client: httpx.AsyncClient, headers: dict[str, str], shop: str, order_id: str
) -> None:
    order = {
        "shop": shop,
        "customer": {"phone": "13800138000", "name": "张伟"},
        "amount": "2300.50",
        "status": "paid",
        "created_at": "2026-11-20T10:00:00+08:00",
        "updated_at": "2026-11-20T10:00:00+08:00",
    }
    r = await client.put(f"/api/v1/orders/{order_id}", json=order, headers=headers)
    assert r.status_code in (200, 201), r.text


@pytest.fixture
async def auth(container: Container, client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Tokens of shop-a, shop-b and an operator; both shops exist and pushed their orders."""
    out = {}
    async with container.sessions() as s, s.begin():
        for name, shop in (("a", "shop-a"), ("b", "shop-b"), ("op", None)):
            issued = await create_token(
                s,
                name,
                ["calls:originate", "orders:write"],
                None,
                now=container.clock.now(),
                shop=shop,
            )
            out[name] = {"Authorization": f"Bearer {issued.token}"}
    for shop in ("shop-a", "shop-b"):
        r = await client.put(f"/api/v1/shops/{shop}", json={}, headers=out["op"])
        assert r.status_code == 201
        for order_id in ORDER_IDS:
            await push_order(client, out[shop[-1]], shop, order_id)
    return out


def key(k: str, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": k}


async def count_jobs(container: Container) -> int:
    async with container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Job)) or 0)


async def count(container: Container) -> int:
    async with container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Confirmation)) or 0)


async def test_a_request_is_queued_and_readable_by_its_shop_only(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    r = await client.post("/api/v1/confirmations", json=request(), headers=key("k1", auth["a"]))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["id"].startswith("cfm_") and len(made["id"]) == 30
    assert made["status"] == "queued" and made["shop"] == "shop-a"
    assert made["phone"] == "+8613800138000"
    assert made["facts"] == {
        "amount": "2300.50",
        "item_count": 3,
        "reason": "high_amount",
        "reason_text": "",
    }
    assert made["attempts"] == 0 and made["max_attempts"] == 3
    assert made["next_attempt_at"] is not None and made["note"] is None
    got = await client.get(f"/api/v1/confirmations/{made['id']}", headers=auth["a"])
    assert got.status_code == 200 and got.json()["attempt_log"] == []
    assert (
        await client.get(f"/api/v1/confirmations/{made['id']}", headers=auth["b"])
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/confirmations/{made['id']}", headers=auth["op"])
    ).status_code == 200
    assert (
        await client.get("/api/v1/confirmations/cfm_nope", headers=auth["a"])
    ).status_code == 404
    listed_b = (await client.get("/api/v1/confirmations", headers=auth["b"])).json()
    assert listed_b["total"] == 0
    listed_a = (await client.get("/api/v1/confirmations", headers=auth["a"])).json()
    assert [i["id"] for i in listed_a["items"]] == [made["id"]]


async def test_the_same_key_and_body_answers_the_first_response_again(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    first = await client.post("/api/v1/confirmations", json=request(), headers=key("k", auth["a"]))
    # The same request written another way is the same request.
    same = request(phone="+86 138-0013-8000", amount=2300.5)
    again = await client.post("/api/v1/confirmations", json=same, headers=key("k", auth["a"]))
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(
        "/api/v1/confirmations", json=request(item_count=4), headers=key("k", auth["a"])
    )
    assert other.status_code == 409 and "another request body" in other.json()["message"]
    # Keys are per shop: shop-b's "k" is its own.
    b = await client.post("/api/v1/confirmations", json=request(), headers=key("k", auth["b"]))
    assert b.status_code == 201 and b.json()["id"] != first.json()["id"]
    assert await count(container) == 2


async def test_fifty_concurrent_requests_with_one_key_make_one_confirmation(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/confirmations", json=request(), headers=key("burst", auth["a"]))
            for _ in range(50)
        )
    )
    assert {r.status_code for r in answers} == {201}, {r.text for r in answers}
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") != "true" for r in answers) == 1
    assert await count(container) == 1
    # And with another body at the same time: 409 for each of those.
    mixed = await asyncio.gather(
        *(
            client.post(
                "/api/v1/confirmations",
                json=request(item_count=1 + i % 2),
                headers=key("mixed", auth["a"]),
            )
            for i in range(20)
        )
    )
    statuses = sorted(r.status_code for r in mixed)
    assert statuses == [201] * 10 + [409] * 10, statuses
    assert await count(container) == 2


async def test_shops_and_tokens_must_agree(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    r = await client.post(
        "/api/v1/confirmations", json=request(shop="shop-b"), headers=key("x", auth["a"])
    )
    assert r.status_code == 403
    r = await client.post("/api/v1/confirmations", json=request(), headers=key("x", auth["op"]))
    assert r.status_code == 422 and "shop" in r.json()["message"]
    r = await client.post(
        "/api/v1/confirmations", json=request(shop="shop-z"), headers=key("x", auth["op"])
    )
    assert r.status_code == 422 and "cti shop add shop-z" in r.json()["message"]
    r = await client.post(
        "/api/v1/confirmations", json=request(shop="shop-b"), headers=key("x", auth["op"])
    )
    assert r.status_code == 201 and r.json()["shop"] == "shop-b"
    async with container.sessions() as s, s.begin():
        orders_only = await create_token(
            s, "o", ["orders:write"], None, now=container.clock.now(), shop="shop-a"
        )
    r = await client.post(
        "/api/v1/confirmations",
        json=request(),
        headers=key("x", {"Authorization": f"Bearer {orders_only.token}"}),
    )
    assert r.status_code == 403
    assert await count(container) == 1


async def test_an_order_not_pushed_by_the_shop_is_refused_alike_and_queues_nothing(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    await push_order(client, auth["b"], "shop-b", "B-ONLY")
    jobs_before = await count_jobs(container)
    # shop-b's order, asked for by shop-a; and an order nobody pushed: the same answer.
    theirs = await client.post(
        "/api/v1/confirmations", json=request(order_id="B-ONLY"), headers=key("o1", auth["a"])
    )
    missing = await client.post(
        "/api/v1/confirmations", json=request(order_id="NOPE-1"), headers=key("o2", auth["a"])
    )
    assert theirs.status_code == missing.status_code == 422, (theirs.text, missing.text)
    assert theirs.json()["message"] == (
        "invalid order_id: no order 'B-ONLY' of shop 'shop-a'; "
        "push the order first (PUT /api/v1/orders/B-ONLY)"
    )
    assert missing.json()["message"] == theirs.json()["message"].replace("B-ONLY", "NOPE-1")
    # An operator naming the wrong shop gets the same.
    r = await client.post(
        "/api/v1/confirmations",
        json=request(order_id="B-ONLY", shop="shop-a"),
        headers=key("o3", auth["op"]),
    )
    assert r.status_code == 422 and "no order 'B-ONLY' of shop 'shop-a'" in r.json()["message"]
    assert await count(container) == 0
    assert await count_jobs(container) == jobs_before
    # The key was not spent: once the order is pushed, the same request goes through.
    await push_order(client, auth["a"], "shop-a", "B-ONLY")
    ok = await client.post(
        "/api/v1/confirmations", json=request(order_id="B-ONLY"), headers=key("o1", auth["a"])
    )
    assert ok.status_code == 201 and ok.json()["shop"] == "shop-a"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "anonymous"}, "phone"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "10000000.01"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"item_count": 0}, "item_count"),
        ({"item_count": 10000}, "item_count"),
        ({"reason": "because"}, "reason"),
        ({"reason_text": "x" * 101}, "reason_text"),
        ({"reason_text": "a\nb"}, "reason_text"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"order_id": "bad id"}, "order_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_requests_are_422_and_queue_nothing(
    client: httpx.AsyncClient, auth: Any, container: Container, over: dict[str, Any], field: str
) -> None:
    r = await client.post(
        "/api/v1/confirmations", json=request(**over), headers=key("k", auth["a"])
    )
    assert r.status_code == 422, r.text
    assert field in r.json()["message"], r.json()
    assert await count(container) == 0


@pytest.mark.parametrize("bad", [None, b"", b"x" * 256, b"tab\tkey", "ключ".encode()])
async def test_the_idempotency_key_is_required_and_bounded(
    client: httpx.AsyncClient, auth: Any, container: Container, bad: bytes | None
) -> None:
    headers: dict[str, Any] = dict(auth["a"])
    if bad is not None:
        headers["Idempotency-Key"] = bad
    r = await client.post("/api/v1/confirmations", json=request(), headers=headers)
    assert r.status_code == 422, r.text
    assert "idempotency-key" in r.json()["message"].lower()
    assert await count(container) == 0


async def test_a_number_on_the_do_not_call_list_is_final_at_once(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    r = await client.put("/api/v1/do-not-call/13800138000", json={}, headers=auth["a"])
    assert r.status_code == 201
    made = await client.post("/api/v1/confirmations", json=request(), headers=key("k", auth["a"]))
    assert made.status_code == 201
    body = made.json()
    assert body["status"] == "do_not_call" and body["next_attempt_at"] is None
    assert body["finished_at"] is not None and "do-not-call" in body["note"]
    # Another shop's list does not stop shop-b's call.
    b = await client.post("/api/v1/confirmations", json=request(), headers=key("k", auth["b"]))
    assert b.json()["status"] == "queued"


async def test_withdraw_only_what_was_never_dialled(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    ids = []
    for k in ("w1", "w2"):
        r = await client.post("/api/v1/confirmations", json=request(), headers=key(k, auth["a"]))
        ids.append(r.json()["id"])
    assert (
        await client.delete(f"/api/v1/confirmations/{ids[0]}", headers=auth["b"])
    ).status_code == 404
    gone = await client.delete(f"/api/v1/confirmations/{ids[0]}", headers=auth["a"])
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    assert gone.json()["finished_at"] is not None and gone.json()["next_attempt_at"] is None
    again = await client.delete(f"/api/v1/confirmations/{ids[0]}", headers=auth["a"])
    assert again.status_code == 200 and again.json()["status"] == "withdrawn"
    # The dialler took the second one: too late.
    now = container.clock.now()
    async with container.sessions() as s, s.begin():
        row = (
            await s.execute(select(Confirmation).where(Confirmation.public_id == ids[1]))
        ).scalar_one()
        await s.execute(
            update(Confirmation)
            .where(Confirmation.id == row.id)
            .values(status="dialling", attempts=1)
        )
        s.add(
            ConfirmationAttempt(
                confirmation_id=row.id, n=1, channel_id="cfm-test-1", started_at=now
            )
        )
    late = await client.delete(f"/api/v1/confirmations/{ids[1]}", headers=auth["a"])
    assert late.status_code == 409 and "dialling" in late.json()["message"]
    got = (await client.get(f"/api/v1/confirmations/{ids[1]}", headers=auth["a"])).json()
    assert [a["n"] for a in got["attempt_log"]] == [1] and got["status"] == "dialling"


async def test_the_list_filters_and_pages(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    made = []
    for i in range(3):
        r = await client.post(
            "/api/v1/confirmations",
            json=request(order_id=f"O-{i}"),
            headers=key(f"l{i}", auth["a"]),
        )
        made.append(r.json())
    await client.delete(f"/api/v1/confirmations/{made[0]['id']}", headers=auth["a"])
    page = (await client.get("/api/v1/confirmations?status=queued", headers=auth["a"])).json()
    assert {i["order_id"] for i in page["items"]} == {"O-1", "O-2"} and page["total"] == 2
    page = (await client.get("/api/v1/confirmations?order_id=O-0", headers=auth["a"])).json()
    assert [i["status"] for i in page["items"]] == ["withdrawn"]
    page = (await client.get("/api/v1/confirmations?limit=1&offset=1", headers=auth["a"])).json()
    assert len(page["items"]) == 1 and page["total"] == 3
    later = (container.clock.now() + timedelta(hours=1)).isoformat()
    page = (
        await client.get("/api/v1/confirmations", params={"from": later}, headers=auth["a"])
    ).json()
    assert page["total"] == 0
    page = (
        await client.get("/api/v1/confirmations", params={"to": later}, headers=auth["a"])
    ).json()
    assert page["total"] == 3
    r = await client.get("/api/v1/confirmations?shop=shop-b", headers=auth["a"])
    assert r.status_code == 403
    r = await client.get("/api/v1/confirmations?shop=shop-b", headers=auth["op"])
    assert r.json()["total"] == 0


async def test_the_created_hook_runs_once_per_new_request_in_its_transaction(
    container: Container, auth: Any
) -> None:
    from cti.confirmations.schemas import ConfirmationIn
    from cti.confirmations.service import NewConfirmation, create_confirmation
    from cti.shops.service import put_do_not_call

    seen: list[tuple[str, str]] = []

    async def on_created(session: Any, row: Confirmation, now: Any) -> None:
        seen.append((row.public_id, row.status))

    def want(k: str, phone: str) -> NewConfirmation:
        data = ConfirmationIn.model_validate(request(phone=phone))
        return NewConfirmation(
            shop="shop-a", phone=phone, data=data, idempotency_key=k, max_attempts=3
        )

    now = container.clock.now()
    first = await create_confirmation(
        container.session_maker, want("h", "+8613800138000"), now=now, on_created=on_created
    )
    again = await create_confirmation(
        container.session_maker, want("h", "+8613800138000"), now=now, on_created=on_created
    )
    assert again.replayed and seen == [(first.body["id"], "queued")]
    async with container.sessions() as s, s.begin():
        await put_do_not_call(s, phone="+8613900139000", shop="", reason="", now=now)
    blocked = await create_confirmation(
        container.session_maker, want("d", "+8613900139000"), now=now, on_created=on_created
    )
    assert seen[1:] == [(blocked.body["id"], "do_not_call")]


async def test_idempotency_keys_are_forgotten_after_48_hours_and_free_again(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    from cti.clock import FixedClock
    from cti.confirmations.keys import (
        FORGET_KEYS_JOB,
        forget_keys_handler,
        schedule_forget_keys,
    )
    from cti.jobs.service import list_jobs

    old = await client.post("/api/v1/confirmations", json=request(), headers=key("k", auth["a"]))
    assert old.status_code == 201
    created = container.clock.now()
    settings = container.confirmation_settings
    assert settings.idempotency_keep_h == 48
    assert FORGET_KEYS_JOB in container.jobs.kinds

    async def run_purge(hours_later: float) -> None:
        handler = forget_keys_handler(settings, FixedClock(created + timedelta(hours=hours_later)))
        async with container.sessions() as s, s.begin():
            await handler(s, {"day": "2026-11-22"})

    # Within the 48 hours (and the 24 the API promises) the key still answers.
    await run_purge(47)
    again = await client.post("/api/v1/confirmations", json=request(), headers=key("k", auth["a"]))
    assert again.status_code == 201 and again.json()["id"] == old.json()["id"]
    other = await client.post(
        "/api/v1/confirmations", json=request(item_count=4), headers=key("k", auth["a"])
    )
    assert other.status_code == 409
    # After them it is forgotten: the shop's key makes a new request.
    await run_purge(49)
    await run_purge(50)  # a second run changes nothing
    async with container.sessions() as s:
        row = (await s.execute(select(Confirmation))).scalar_one()
        assert row.idempotency_key == " " + old.json()["id"]
        assert row.request_hash == "" and row.first_response == {}
    new = await client.post(
        "/api/v1/confirmations", json=request(item_count=4), headers=key("k", auth["a"])
    )
    assert new.status_code == 201 and new.json()["id"] != old.json()["id"]
    assert "idempotent-replayed" not in new.headers
    # The old confirmation is still there as it was.
    got = await client.get(f"/api/v1/confirmations/{old.json()['id']}", headers=auth["a"])
    assert got.status_code == 200 and got.json()["facts"]["item_count"] == 3
    assert await count(container) == 2
    # One job a day, whoever submits it and how often.
    later = FixedClock(created + timedelta(days=3))
    first = await schedule_forget_keys(container.spool, later)
    second = await schedule_forget_keys(container.spool, later)
    assert first.created and not second.created and first.job_id == second.job_id
    async with container.sessions() as s:
        jobs = await list_jobs(s, kind=FORGET_KEYS_JOB)
    assert [j.key for j in jobs if j.id == first.job_id] == [
        f"idempotency-keys:{(created + timedelta(days=3)).date().isoformat()}"
    ]
