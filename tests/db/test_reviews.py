"""QA reviews over HTTP on SQLite and PostgreSQL: scoring, refusals, finality, averages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from cti.api import create_http_app
from cti.app import running
from cti.calls.models import CallRecord
from cti.container import Container
from cti.recordings.ids import recording_id
from cti.recordings.models import Recording
from cti.settings import Settings

MakeToken = Callable[..., Awaitable[str]]
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
FULL = {"greeting": 10, "knowledge": 10, "resolution": 10, "attitude": 10, "closing": 10}


async def plant_recording(
    container: Container,
    linkedid: str,
    *,
    agent: str | None = "1001",
    queue: str | None = "hotline",
    started_at: datetime = T0,
    segment: int = 1,
) -> str:
    """A catalog row (no file: reviews never read one); its public id."""
    public_id = recording_id(container.recordings.key, linkedid, segment)
    async with container.sessions() as s, s.begin():
        s.add(
            Recording(
                public_id=public_id,
                linkedid=linkedid,
                segment=segment,
                uniqueid=f"{linkedid}.2",
                path=f"20261123/{linkedid}-{segment}.wav",
                caller_number="+8613800138000",
                agent=agent,
                queue=queue,
                direction="inbound",
                order_id=None,
                started_at=started_at,
                duration_s=30.0,
                size_bytes=480_044,
                format="wav",
                channels=1,
                sha256="0" * 64,
                paused_spans=[],
                status="available",
                created_at=started_at + timedelta(minutes=1),
            )
        )
    return public_id


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def review(
    client: httpx.AsyncClient, token: str, rec: str, scores: dict[str, Any], **extra: Any
) -> httpx.Response:
    body = {"sheet": "hotline", "scores": scores, **extra}
    return await client.post(f"/api/v1/recordings/{rec}/reviews", json=body, headers=auth(token))


async def test_the_built_in_sheet_has_weights_that_add_up(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    r = await client.get(
        "/api/v1/qa/scoresheets", headers=auth(await make_token("recordings:read"))
    )
    assert r.status_code == 200
    (sheet,) = r.json()["sheets"]
    assert sheet["id"] == "hotline" and sheet["name"] == "热线服务质检评分表"
    labels = [c["label"] for c in sheet["criteria"]]
    assert "服务态度" in labels and "业务知识准确" in labels
    assert sum(c["weight"] for c in sheet["criteria"]) == pytest.approx(1.0)


async def test_a_review_is_scored_by_weight_and_names_its_reviewer(
    container: Container, client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    rec = await plant_recording(container, "1700000000.1", agent="1001", queue="hotline")
    token = await make_token("recordings:write")  # named "test" by the fixture
    scores = {"greeting": 10, "knowledge": 5, "resolution": 10, "attitude": 10, "closing": 0}
    r = await review(client, token, rec, scores, comment="  开场规范，结束语遗漏。 ")
    assert r.status_code == 201, r.text
    got = r.json()
    # 15% x 10/10 + 25% x 5/10 + 30% x 10/10 + 20% x 10/10 + 10% x 0/10
    assert got["total"] == pytest.approx(77.5)
    assert got["id"].startswith("rev_") and got["recording_id"] == rec
    assert (got["reviewer"], got["agent"], got["queue"]) == ("test", "1001", "hotline")
    assert got["comment"] == "开场规范，结束语遗漏。"
    assert [c["score"] for c in got["criteria"]] == [10, 5, 10, 10, 0]
    assert got["criteria"][0]["label"] == "开场问好与电话礼仪"
    assert got["current"] and got["corrects"] is None and got["corrected_by"] is None

    listed = await client.get(
        f"/api/v1/recordings/{rec}/reviews", headers=auth(await make_token("recordings:read"))
    )
    assert listed.status_code == 200
    assert listed.json()["items"] == [got]
    # Ids are random: a second review of the same recording gets another one.
    again = await review(client, token, rec, FULL)
    assert again.json()["id"] != got["id"] and again.json()["total"] == 100.0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"scores": {**FULL, "closing": None} | {}}, "closing"),
        ({"scores": {k: v for k, v in FULL.items() if k != "attitude"}}, "'attitude'"),
        ({"scores": {**FULL, "upsell": 3}}, "'upsell' is not a criterion"),
        ({"scores": {**FULL, "greeting": 11}}, "between 0 and 10"),
        ({"scores": {**FULL, "greeting": -1}}, "greater than or equal to 0"),
        ({"scores": {**FULL, "greeting": 9.5}}, "integer"),
        ({"scores": {**FULL, "greeting": "9"}}, "integer"),
        ({"scores": FULL, "sheet": "nope"}, "no score sheet 'nope'"),
        ({"scores": FULL, "comment": "x" * 4001}, "4000"),
        ({"scores": FULL, "comment": "a\x1bb"}, "control characters"),
        ({"scores": FULL, "reviewer": "someone else"}, "reviewer"),
    ],
)
async def test_incomplete_or_out_of_range_scores_are_refused(
    container: Container,
    client: httpx.AsyncClient,
    make_token: MakeToken,
    body: dict[str, Any],
    says: str,
) -> None:
    rec = await plant_recording(container, "1700000001.1")
    token = await make_token("recordings:write")
    r = await client.post(
        f"/api/v1/recordings/{rec}/reviews",
        json={"sheet": "hotline", **body},
        headers=auth(token),
    )
    assert r.status_code == 422, r.text
    assert says in r.text
    listed = await client.get(
        f"/api/v1/recordings/{rec}/reviews", headers=auth(await make_token("recordings:read"))
    )
    assert listed.json()["items"] == []


async def test_unknown_or_malformed_recording_ids_are_404(
    container: Container, client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    real = await plant_recording(container, "1700000002.1")
    unknown = recording_id(b"another key", "1700000002.1", 1)
    writer, reader = await make_token("recordings:write"), await make_token("recordings:read")
    for bad in (unknown, "rec_", "1", real.upper(), real + "a", "..%2F..%2Fetc%2Fpasswd"):
        r = await review(client, writer, bad, FULL)
        assert r.status_code == 404, (bad, r.text)
        r = await client.get(f"/api/v1/recordings/{bad}/reviews", headers=auth(reader))
        assert r.status_code == 404, (bad, r.text)


async def test_a_submitted_review_is_final_and_a_correction_replaces_it(
    container: Container, client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    rec = await plant_recording(container, "1700000003.1", agent="1001")
    other = await plant_recording(container, "1700000004.1", agent="1001")
    writer, reader = await make_token("recordings:write"), await make_token("recordings:read")
    first = (await review(client, writer, rec, {**FULL, "attitude": 0})).json()
    foreign = (await review(client, writer, other, FULL)).json()

    # No route changes or deletes a review, whatever the method.
    app = create_http_app(container.http_services())
    review_paths = {
        (m, ctx.path_format)
        for ctx in iter_route_contexts(app.routes)
        if "review" in ctx.path_format
        for m in ctx.methods or ()
    }
    assert review_paths == {
        ("GET", "/api/v1/recordings/{recording_id}/reviews"),
        ("POST", "/api/v1/recordings/{recording_id}/reviews"),
    }
    for method in ("PUT", "PATCH", "DELETE"):
        r = await client.request(
            method, f"/api/v1/recordings/{rec}/reviews", json=FULL, headers=auth(writer)
        )
        assert r.status_code == 405, r.text
        r = await client.request(
            method, f"/api/v1/recordings/{rec}/reviews/{first['id']}", headers=auth(writer)
        )
        assert r.status_code == 404, r.text

    # A correction must name a review of the same recording.
    r = await review(client, writer, rec, FULL, corrects=foreign["id"])
    assert r.status_code == 422 and "no review" in r.text
    r = await review(client, writer, rec, FULL, corrects="rev_nothing")
    assert r.status_code == 422

    fixed = await review(client, writer, rec, FULL, corrects=first["id"], comment="复核更正")
    assert fixed.status_code == 201, fixed.text
    assert fixed.json()["corrects"] == first["id"]
    # The corrected review cannot be corrected a second time.
    r = await review(client, writer, rec, FULL, corrects=first["id"])
    assert r.status_code == 409 and fixed.json()["id"] in r.text

    items = (await client.get(f"/api/v1/recordings/{rec}/reviews", headers=auth(reader))).json()[
        "items"
    ]
    assert [(i["id"], i["current"], i["corrected_by"], i["total"]) for i in items] == [
        (first["id"], False, fixed.json()["id"], 80.0),
        (fixed.json()["id"], True, None, 100.0),
    ]
    # The corrected review keeps its scores: nothing of it was changed.
    assert items[0]["criteria"] == first["criteria"]
    averages = await client.get("/api/v1/qa/averages?by=agent", headers=auth(reader))
    # Only current reviews count: the correction (100) and the other recording's (100).
    assert averages.json()["items"] == [{"key": "1001", "count": 2, "average": 100.0}]


async def test_averages_per_agent_and_queue_over_a_period(
    container: Container, client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    writer, reader = await make_token("recordings:write"), await make_token("recordings:read")
    day = T0
    planted = [
        # (linkedid, agent, queue, started, attitude score -> total)
        ("1700000010.1", "1001", "hotline", day, 10),  # 100
        ("1700000011.1", "1001", "hotline", day + timedelta(hours=2), 5),  # 90
        ("1700000012.1", "1002", "vip", day + timedelta(hours=3), 0),  # 80
        ("1700000013.1", "1002", "hotline", day - timedelta(seconds=1), 10),  # before
        ("1700000014.1", "1001", "vip", day + timedelta(days=1), 10),  # at "to": after
    ]
    for linkedid, agent, queue, started, attitude in planted:
        rec = await plant_recording(
            container, linkedid, agent=agent, queue=queue, started_at=started
        )
        r = await review(client, writer, rec, {**FULL, "attitude": attitude})
        assert r.status_code == 201

    period = {"from": "2026-11-23T09:00:00+08:00", "to": "2026-11-24T09:00:00+08:00"}
    r = await client.get("/api/v1/qa/averages", params=period, headers=auth(reader))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["by"] == "agent"
    assert datetime.fromisoformat(body["from"]) == day
    assert body["items"] == [
        {"key": "1001", "count": 2, "average": 95.0},
        {"key": "1002", "count": 1, "average": 80.0},
    ]
    r = await client.get(
        "/api/v1/qa/averages", params={**period, "by": "queue"}, headers=auth(reader)
    )
    assert r.json()["items"] == [
        {"key": "hotline", "count": 2, "average": 95.0},
        {"key": "vip", "count": 1, "average": 80.0},
    ]
    # Without a period: every review.
    r = await client.get("/api/v1/qa/averages", headers=auth(reader))
    assert [(i["key"], i["count"]) for i in r.json()["items"]] == [("1001", 3), ("1002", 2)]
    for params in (
        {"from": period["to"], "to": period["from"]},
        {"from": "2026-11-23T09:00:00"},  # no time zone
        {"by": "shop"},
    ):
        r = await client.get("/api/v1/qa/averages", params=params, headers=auth(reader))
        assert r.status_code == 422, (params, r.text)


async def test_an_agent_reads_the_reviews_of_its_own_recordings_only(
    container: Container, client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    # Who may read a recording's reviews is who may see its call: the agents who took it.
    async with container.sessions() as s, s.begin():
        for linkedid, agent in (("1700000020.1", "PJSIP/1001"), ("1700000021.1", "PJSIP/1002")):
            s.add(
                CallRecord(
                    linkedid=linkedid,
                    caller_number="13800138000",
                    queue="hotline",
                    agent=agent,
                    outcome="answered",
                    started_at=T0,
                    ended_at=T0 + timedelta(minutes=2),
                )
            )
    mine = await plant_recording(container, "1700000020.1", agent="PJSIP/1001")
    theirs = await plant_recording(container, "1700000021.1", agent="PJSIP/1002")
    writer = await make_token("recordings:write")
    for rec in (mine, theirs):
        assert (await review(client, writer, rec, FULL)).status_code == 201
    agent = auth(await make_token("agent", agent="1001"))
    r = await client.get(f"/api/v1/recordings/{mine}/reviews", headers=agent)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get(f"/api/v1/recordings/{theirs}/reviews", headers=agent)
    assert r.status_code == 404
    assert (await review(client, agent["Authorization"][7:], mine, FULL)).status_code == 403
    r = await client.get("/api/v1/qa/averages", headers=agent)
    assert r.status_code == 403


async def test_sheets_from_the_configured_file_are_served_and_scored(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheets = {
        "sheets": [
            {
                "id": "outbound",
                "name": "外呼确认评分表",
                "criteria": [
                    {"key": "identity", "label": "核实身份", "weight": 1, "max": 5},
                    {"key": "order", "label": "订单信息核对", "weight": 3, "max": 5},
                ],
            }
        ]
    }
    file = tmp_path / "sheets.json"
    file.write_text(json.dumps(sheets, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("CTI_RECORDINGS_SCORESHEETS_FILE", str(file))
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, ami_enabled=False, agi_enabled=False
    )
    async with running(settings, migrate=False) as container:
        app = create_http_app(container.http_services())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cti.test"
        ) as client:
            from cti.auth.tokens import create_token

            async with container.sessions() as s, s.begin():
                token = (
                    await create_token(
                        s, "质检员 王芳", ["recordings:write"], now=container.clock.now()
                    )
                ).token
            r = await client.get("/api/v1/qa/scoresheets", headers=auth(token))
            assert [s["id"] for s in r.json()["sheets"]] == ["hotline", "outbound"]
            weights = [c["weight"] for c in r.json()["sheets"][1]["criteria"]]
            assert weights == [0.25, 0.75]
            rec = await plant_recording(container, "1700000030.1")
            r = await client.post(
                f"/api/v1/recordings/{rec}/reviews",
                json={"sheet": "outbound", "scores": {"identity": 5, "order": 3}},
                headers=auth(token),
            )
            assert r.status_code == 201, r.text
            # 25% x 5/5 + 75% x 3/5
            assert r.json()["total"] == pytest.approx(70.0)
            assert r.json()["reviewer"] == "质检员 王芳"
            assert r.json()["sheet"] == "outbound"


async def test_two_corrections_of_one_review_sent_at_once_one_wins(
    container: Container, client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    rec = await plant_recording(container, "1700000040.1")
    writer, reader = await make_token("recordings:write"), await make_token("recordings:read")
    first = (await review(client, writer, rec, FULL)).json()
    for _ in range(5):
        answers = await asyncio.gather(
            *(
                review(client, writer, rec, {**FULL, "closing": n}, corrects=first["id"])
                for n in range(4)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        items = (
            await client.get(f"/api/v1/recordings/{rec}/reviews", headers=auth(reader))
        ).json()["items"]
        assert statuses == [201, 409, 409, 409], [a.text for a in answers]
        assert sum(i["current"] for i in items) == 1
        first = next(i for i in items if i["current"])
