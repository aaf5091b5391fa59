"""Supervisors manage holidays and make-up working days through the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

URL = "/api/v1/hotlines/hotline/holidays"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def supervisor(make_token: Any) -> dict[str, str]:
    return _auth(await make_token("agents:write", "stats:read"))


async def test_put_get_list_delete(client: httpx.AsyncClient, supervisor: dict[str, str]) -> None:
    body = {"kind": "holiday", "name": "国庆节"}
    created = await client.put(f"{URL}/2026-10-01", json=body, headers=supervisor)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "国庆节"
    replaced = await client.put(
        f"{URL}/2026-10-01",
        json={"kind": "holiday", "name": "国庆节", "hours": ["10:00-16:00"]},
        headers=supervisor,
    )
    assert replaced.status_code == 200
    assert replaced.json()["hours"] == ["10:00-16:00"]
    makeup = await client.put(
        f"{URL}/2026-09-27", json={"kind": "workday", "name": "调休"}, headers=supervisor
    )
    assert makeup.status_code == 201

    one = await client.get(f"{URL}/2026-10-01", headers=supervisor)
    assert one.status_code == 200
    assert one.json()["kind"] == "holiday"
    assert one.json()["date"] == "2026-10-01"

    listed = await client.get(URL, headers=supervisor)
    assert [(d["date"], d["kind"]) for d in listed.json()["items"]] == [
        ("2026-09-27", "workday"),
        ("2026-10-01", "holiday"),
    ]
    ranged = await client.get(URL, params={"from": "2026-10-01"}, headers=supervisor)
    assert [d["date"] for d in ranged.json()["items"]] == ["2026-10-01"]

    gone = await client.delete(f"{URL}/2026-10-01", headers=supervisor)
    assert gone.status_code == 204
    missing = await client.get(f"{URL}/2026-10-01", headers=supervisor)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    again = await client.delete(f"{URL}/2026-10-01", headers=supervisor)
    assert again.status_code == 404


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    r = await client.put(f"{URL}/2026-10-01", json={"kind": "holiday"})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert (await client.get(URL)).status_code == 401


async def test_wrong_scope_is_403(client: httpx.AsyncClient, make_token: Any) -> None:
    reader = _auth(await make_token("stats:read"))
    r = await client.put(f"{URL}/2026-10-01", json={"kind": "holiday"}, headers=reader)
    assert r.status_code == 403
    assert "agents:write" in r.json()["message"]
    assert (await client.delete(f"{URL}/2026-10-01", headers=reader)).status_code == 403
    agent = _auth(await make_token("agent", agent="1001"))
    assert (await client.get(URL, headers=agent)).status_code == 403
    # Reading is stats:read.
    assert (await client.get(URL, headers=reader)).status_code == 200


@pytest.mark.parametrize(
    "day", ["2026-02-30", "2026-13-01", "20261001", "tomorrow", "1999-12-31", "2101-01-01"]
)
async def test_bad_dates_are_422(
    client: httpx.AsyncClient, supervisor: dict[str, str], day: str
) -> None:
    r = await client.put(f"{URL}/{day}", json={"kind": "holiday"}, headers=supervisor)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    assert r.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "vacation"},
        {"kind": "holiday", "hours": ["9-18"]},
        {"kind": "holiday", "hours": ["18:00-09:00"]},
        {"kind": "workday", "name": "x" * 101},
        [],
    ],
)
async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, supervisor: dict[str, str], body: Any
) -> None:
    r = await client.put(f"{URL}/2026-10-01", json=body, headers=supervisor)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input"
    listed = await client.get(URL, headers=supervisor)
    assert listed.json()["items"] == []


async def test_unknown_hotline_is_404(
    client: httpx.AsyncClient, supervisor: dict[str, str]
) -> None:
    r = await client.put(
        "/api/v1/hotlines/nope/holidays/2026-10-01", json={"kind": "holiday"}, headers=supervisor
    )
    assert r.status_code == 404
    assert "known: hotline" in r.json()["message"]
