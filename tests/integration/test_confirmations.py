"""Issue 16 on the real stack: order-confirmation calls to SIPp customers, webhooks to a shop.

One SIPp UAS answers as every customer and acts on the dialled number's last digit
(docker/devstack/sipp/customer.xml): presses 1, 2 or 0 (RFC 4733), is busy (6),
never answers (7) or answers and says nothing (9). Agent 1001 takes the customer who
pressed 0. A webhook receiver in the test checks every signature.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cti_stack as stack

from cti.webhooks.signing import verify
from tests.integration.conftest import (
    CONFIRM_ENV,
    AgentDesk,
    CtiServe,
    Receiver,
    invites,
    open_shop,
    push_order,
)
from tests.integration.conftest import api as _api

SHOP = "shop-a"


def test_confirmation_calls_end_to_end(
    cti_serve: CtiServe, cti_env: dict[str, str], customers: Path, receiver: Receiver
) -> None:
    cti_env.update(CONFIRM_ENV)
    cti_serve.start()
    shop, secret = open_shop(cti_serve, SHOP, receiver.url, max_concurrent=3)
    # Agent 1001's desktop is open before the calls: the pop of the customer who pressed 0.
    desk = AgentDesk(cti_serve, cti_serve.token("agent", agent="1001"))
    r = _api(cti_serve, "PUT", "/api/v1/do-not-call/13800138003", shop, json={"reason": "投诉"})
    assert r.status_code in (200, 201), r.text

    wanted = {
        "13800138001": ("confirmed", 1),
        "13800138002": ("cancelled", 1),
        "13800138000": ("transferred", 1),
        "13800138009": ("not_confirmed", 1),
        "13800138006": ("busy", 2),
        "13800138007": ("no_answer", 2),
        "13800138003": ("do_not_call", 0),
    }
    ids: dict[str, str] = {}
    for i, number in enumerate(wanted):
        order_id = f"E2026120500{i}"
        push_order(cti_serve, shop, SHOP, order_id, number)  # a confirmation needs its order
        body = {
            "order_id": order_id,
            "phone": number,
            "amount": "2300.50",
            "item_count": 3,
            "reason": "high_amount",
            "max_attempts": 2,
        }
        r = _api(
            cti_serve,
            "POST",
            "/api/v1/confirmations",
            shop,
            json=body,
            headers={"Idempotency-Key": f"key-{number}"},
        )
        assert r.status_code == 201, r.text
        ids[number] = r.json()["id"]
        # The same request again is the same answer, and no second call.
        again = _api(
            cti_serve,
            "POST",
            "/api/v1/confirmations",
            shop,
            json=body,
            headers={"Idempotency-Key": f"key-{number}"},
        )
        assert again.status_code == 201 and again.json()["id"] == ids[number]

    def finished() -> dict[str, dict[str, Any]] | None:
        out = {}
        for number, cid in ids.items():
            detail = _api(cti_serve, "GET", f"/api/v1/confirmations/{cid}", shop).json()
            if detail.get("finished_at") is None:
                return None
            out[number] = detail
        return out

    done = stack.wait_for(finished, timeout=240, interval=1)
    got = {n: (d["status"], d["attempts"]) for n, d in done.items()}
    assert got == wanted, got

    # Asterisk placed exactly the calls the attempts say, never one twice; the
    # do-not-call number was never dialled.
    dialled = invites(customers)
    assert dialled == {n: a for n, (_, a) in wanted.items() if a}, dialled
    assert [a["digit"] for a in done["13800138001"]["attempt_log"]] == ["1"]

    # The shop heard every final result once (after a 500 for the first delivery),
    # each signed with its secret.
    def delivered() -> dict[str, str] | None:
        seen: dict[str, str] = {}
        for headers, body in receiver.received:
            sig = {k.lower(): v for k, v in headers.items()}["x-cti-signature"]
            assert verify(sig, body, [secret], time.time())
            event = json.loads(body)
            seen[event["data"]["confirmation_id"]] = event["data"]["result"]
        return seen if len(seen) == len(ids) else None

    seen = stack.wait_for(delivered, timeout=60, interval=0.5)
    assert seen == {ids[n]: s for n, (s, _) in wanted.items()}
    events = [json.loads(b)["event_id"] for _, b in receiver.received]
    assert len(events) == len(ids) + 1  # the one 500 was delivered again
    # An old signature replayed later is refused by the verification the README shows.
    headers, body = receiver.received[-1]
    sig = {k.lower(): v for k, v in headers.items()}["x-cti-signature"]
    assert not verify(sig, body, [secret], time.time() + 3600)

    # The customer who pressed 0 reached agent 1001 as an outbound call of that order,
    # and the confirmation calls are recorded like any other.
    stats = cti_serve.token("stats:read")

    def put_through() -> list[dict[str, Any]]:
        # An outbound call's party is the customer we dialled, not the number we presented.
        page = cti_serve.get("/api/v1/calls", stats, limit=100).json()
        return [
            c
            for c in page["items"] + page["active"]
            if c["agent"] == "PJSIP/1001" and c["caller_number"] == "+8613800138000"
        ]

    stack.wait_for(put_through, timeout=60)
    # The agent's screen-pop said where the customer came from and which order it was.
    pops = stack.wait_for(
        lambda: [f for f in desk.frames if f["type"] == "ringing"], timeout=30, interval=0.5
    )
    desk.close()
    assert [(p.get("origin"), p.get("order_id")) for p in pops] == [
        ("confirmation", "E20261205002")  # 13800138000's order
    ], pops
    reader = cti_serve.token("recordings:read")
    recs = stack.wait_for(
        lambda: cti_serve.get("/api/v1/recordings", reader, direction="outbound", limit=100).json()[
            "items"
        ],
        timeout=60,
    )
    confirmed = [r for r in recs if r["order_id"] == "E20261205000"]  # 13800138001's order
    assert confirmed and confirmed[0]["caller_number"] == "+8613800138001", recs
