"""Out-of-range numbers, dates and text are a 422 with a JSON reason, never a 500 (issue 14, #5).

Each request here used to reach the database: an offset or id past what PostgreSQL's
integers hold, a date at the end of the calendar that overflows when converted to UTC,
a number read as seconds since 1970, a NUL that PostgreSQL refuses in text. The bulk
import reported the database's SQL as a line's reason.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import DataError

from cti.container import Container
from cti.orders import imports
from tests.db.test_orders import order

HUGE = str(2**63)  # one past PostgreSQL's BIGINT


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    assert field in body["message"], body


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/tickets", {"offset": HUGE}, "query.offset"),
        ("/api/v1/tickets/callbacks", {"offset": HUGE}, "query.offset"),
        ("/api/v1/calls", {"offset": HUGE}, "query.offset"),
        ("/api/v1/tickets", {"customer_id": str(2**70)}, "query.customer_id"),
        ("/api/v1/tickets/" + str(2**70), {}, "path.ticket_id"),
        ("/api/v1/calls", {"since": "0.5"}, "query.since"),
        ("/api/v1/calls", {"until": "9999-12-31T23:00:00-12:00"}, "query.until"),
        ("/api/v1/calls", {"caller": "138\x00"}, "NUL"),
        ("/api/v1/calls/abc%00", {}, "NUL"),
        ("/api/v1/tickets", {"linkedid": "\x00"}, "NUL"),
        ("/api/v1/hotlines/hotline/holidays/0", {}, "path.day"),
        ("/api/v1/hotlines/hotline/holidays", {"from": "0001-01-01"}, "query.from"),
    ],
)
async def test_out_of_range_query_and_path_values_are_refused(
    client: httpx.AsyncClient, make_token: Any, path: str, params: dict[str, str], field: str
) -> None:
    token = await make_token("tickets:write", "stats:read")
    _refused(await client.get(path, params=params, headers=_bearer(token)), field)


async def test_out_of_range_body_values_are_refused(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    token = await make_token("tickets:write", "orders:write")
    late = "9999-12-31T23:00:00-12:00"
    r = await client.put(
        "/api/v1/orders/E1", json=order(created_at=late, updated_at=late), headers=_bearer(token)
    )
    _refused(r, "created_at")
    assert "year" in r.json()["message"]
    ticket = {"type": "question", "title": "where is my parcel"}
    for over, field in [
        ({"customer_id": 2**70}, "customer_id"),
        ({"due_at": 0}, "due_at"),
        ({"title": "forged\x00title"}, "NUL"),
        ({"description": "line\x1b[2J"}, "description"),
    ]:
        r = await client.post("/api/v1/tickets", json=ticket | over, headers=_bearer(token))
        _refused(r, field)
    ok = await client.post(
        "/api/v1/tickets",
        json=ticket | {"description": "two lines\n\tand a tab", "due_at": "2026-11-24T10:00:00Z"},
        headers=_bearer(token),
    )
    assert ok.status_code == 201, ok.text


async def test_a_single_valued_query_parameter_sent_twice_is_refused(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    token = await make_token("tickets:write", "stats:read")
    r = await client.get("/api/v1/calls?agent=1001&agent=1002", headers=_bearer(token))
    _refused(r, "query.agent")
    # Lists may repeat.
    r = await client.get("/api/v1/tickets?status=open&status=closed", headers=_bearer(token))
    assert r.status_code == 200, r.text


async def test_import_refuses_out_of_range_lines_and_keeps_the_rest(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    token = await make_token("orders:write")
    late = "9999-12-31T23:00:00-12:00"
    lines = [
        order(order_id="A1"),
        order(order_id="A2", created_at=late, updated_at=late),
        order(order_id="A3", items=[{"sku": "S\x00", "name": "cup", "qty": 1, "price": "1"}]),
        order(order_id="A4"),
    ]
    r = await client.post(
        "/api/v1/orders:import",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers=_bearer(token) | {"Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 2
    reasons = {x["line"]: x["reason"] for x in report["rejected_lines"]}
    assert set(reasons) == {2, 3}
    assert "year" in reasons[2] and "sku" in reasons[3]


async def test_import_reason_for_a_refused_row_is_plain_words(
    container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(*_: Any, **__: Any) -> Any:
        raise DataError(
            "INSERT INTO orders (shop, order_id) VALUES ($1, $2)",
            ("tmall-flagship", "B1"),
            Exception("value out of range for type integer"),
        )

    monkeypatch.setattr(imports, "upsert_orders", refuse)
    run = imports.OrderImport(container.sessions, container.phones, clock=container.clock)
    await run.feed(1, json.dumps(order(order_id="B1")).encode())
    report = await run.run(_no_more_lines())
    [rejected] = report.rejected_lines
    assert rejected.reason == "not stored: the database refused a value of this order"
    assert "out of range" in caplog.text and "INSERT" not in caplog.text


async def _no_more_lines() -> Any:
    for item in ():
        yield item
