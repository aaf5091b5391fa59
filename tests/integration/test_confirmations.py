"""Issue 16 on the real stack: order-confirmation calls to SIPp customers, webhooks to a shop.

One SIPp UAS answers as every customer and acts on the dialled number's last digit
(docker/devstack/sipp/customer.xml): presses 1, 2 or 0 (RFC 4733), is busy (6),
never answers (7) or answers and says nothing (9). Agent 1001 takes the customer who
pressed 0. A webhook receiver in the test checks every signature.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from cti.webhooks.signing import verify
from tests.conftest import Devstack
from tests.integration.conftest import CtiServe

SHOP = "shop-a"


class Receiver:
    """The shop's webhook endpoint: answers 500 to the first delivery, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((dict(self.headers), body))
                status = 500 if receiver.fail_first else 200
                receiver.fail_first = False
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cti/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def customers(devstack: Devstack, tmp_path: Path) -> Iterator[Path]:
    log_dir = tmp_path / "customers"
    log_dir.mkdir()
    # Calls left over by earlier tests (a SIPp ended by signal leaves its channel up)
    # would keep agent 1001 busy.
    stack.asterisk_cli("channel request hangup all")
    proc = stack.start_sipp_customers(log_dir=log_dir)
    stack.devstack("reset-queues")
    stack.add_queue_member("1001")
    agent = stack.start_sipp_agent("1001", "agent_talks.xml")
    yield log_dir
    stack._stop(agent)
    stack._stop(proc)
    # A SIPp ended by a signal sends no BYE: its calls (the customer put through to
    # agent 1001) would stay up and keep the agent busy for the tests after this one.
    stack.asterisk_cli("channel request hangup all")
    stack.remove_queue_member("1001")


def _api(serve: CtiServe, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return httpx.request(method, f"{serve.base_url}{path}", headers=headers, timeout=30, **kw)


def _invites(log_dir: Path) -> dict[str, int]:
    """INVITEs the customers' SIPp received, per dialled number."""
    text = (log_dir / "messages.log").read_text(errors="replace")
    counts: dict[str, int] = {}
    for number in re.findall(r"^INVITE sip:(\d+)@", text, flags=re.M):
        counts[number] = counts.get(number, 0) + 1
    return counts


def test_confirmation_calls_end_to_end(
    cti_serve: CtiServe, cti_env: dict[str, str], customers: Path, receiver: Receiver
) -> None:
    cti_env.update(
        {
            "CTI_CONFIRM_DIAL_TEMPLATE": "PJSIP/{national}@customers",
            "CTI_CONFIRM_RING_TIMEOUT_S": "6",
            "CTI_CONFIRM_RETRY_BASE_S": "2",
            "CTI_CONFIRM_RETRY_FACTOR": "1",
            "CTI_WEBHOOKS_BACKOFF_BASE_S": "1",
            "CTI_WEBHOOKS_BACKOFF_FACTOR": "1",
        }
    )
    cti_serve.start()
    operator = cti_serve.cti(
        "token", "create", "--name", "ops", "--scope", "calls:originate", "--all-shops"
    )
    r = _api(
        cti_serve,
        "PUT",
        f"/api/v1/shops/{SHOP}",
        operator,
        json={
            "name": "旗舰店",
            "webhook_url": receiver.url,
            "window_start": "00:00",
            "window_end": "23:59",
            "max_concurrent": 3,
            "caller_id": "4008001234",
        },
    )
    assert r.status_code in (200, 201), r.text
    secret = r.json()["secret"]
    # The shop backend pushes its orders and asks for their confirmation calls.
    shop = cti_serve.cti(
        "token",
        "create",
        "--name",
        "shop-a",
        "--scope",
        "calls:originate",
        "--scope",
        "orders:write",
        "--shop",
        SHOP,
    )
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
        # A confirmation is only for an order the shop pushed first.
        order = {
            "shop": SHOP,
            "customer": {"phone": number, "name": f"顾客{i}"},
            "amount": "2300.50",
            "status": "paid",
            "created_at": "2026-12-05T10:00:00+08:00",
            "updated_at": "2026-12-05T10:00:00+08:00",
        }
        r = _api(cti_serve, "PUT", f"/api/v1/orders/{order_id}", shop, json=order)
        assert r.status_code in (200, 201), r.text
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
    invites = _invites(customers)
    assert invites == {n: a for n, (_, a) in wanted.items() if a}, invites
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
    reader = cti_serve.token("recordings:read")
    recs = stack.wait_for(
        lambda: cti_serve.get("/api/v1/recordings", reader, direction="outbound", limit=100).json()[
            "items"
        ],
        timeout=60,
    )
    confirmed = [r for r in recs if r["order_id"] == "E20261205000"]  # 13800138001's order
    assert confirmed and confirmed[0]["caller_number"] == "+8613800138001", recs
