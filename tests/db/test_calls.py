"""Call records from recorded Asterisk traffic: the API, its filters, and durable writing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from cti.agents.state import AgentStateTracker
from cti.ami.codec import AmiDecoder
from cti.api import create_http_app
from cti.bus import EventBus
from cti.calls import subscribers as calls_subscribers
from cti.calls.models import CallRecord
from cti.calls.writer import CallRecordWriter
from cti.clock import FixedClock
from cti.container import Container
from cti.csat.service import record_rating
from cti.pipeline import EventPipeline
from cti.tracking.events import CallSummary, Outcome
from cti.tracking.tracker import CallTracker
from tests.groundtruth import expected_cause, read_cdr, read_queue_log, same_agent

TRACES = Path(__file__).resolve().parent.parent / "fixtures" / "traces"


def feed_trace(container: Container | EventPipeline, name: str) -> None:
    pipeline = container if isinstance(container, EventPipeline) else container.pipeline
    decoder = AmiDecoder()
    for msg in decoder.feed((TRACES / name).read_bytes()):
        pipeline.on_ami_event(msg)


def expected(name: str) -> dict[str, dict[str, Any]]:
    """Each call of a trace as Asterisk's queue_log and CDR of the same run record it."""
    trace = TRACES / name
    queue_log = read_queue_log(trace.with_suffix(".queue_log"))
    cdr = read_cdr(trace.with_suffix(".cdr.csv"))
    calls: dict[str, dict[str, Any]] = {}
    for callid, truth in queue_log.items():
        rows = [r for r in cdr if r["uniqueid"] == callid]
        first = min(rows, key=lambda r: r["start"])
        name, _, _ = first["clid"].rpartition(" <")
        calls[callid] = {
            "linkedid": callid,
            "caller_number": first["src"],
            "caller_name": name.strip('"') or None,
            "queue": truth.queue,
            "outcome": truth.outcome,
            "agent": truth.agent,
            "hangup_cause": expected_cause(rows),
        }
    return calls


async def test_recorded_calls_are_listed_filtered_and_paginated(
    container: Container, client: httpx.AsyncClient, make_token: Callable[..., Any]
) -> None:
    feed_trace(container, "concurrent.ami")
    feed_trace(container, "timeout.ami")
    await container.writer.flush()
    want = {**expected("concurrent.ami"), **expected("timeout.ami")}
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}

    page = (await client.get("/api/v1/calls", headers=auth, params={"limit": 500})).json()
    assert page["total"] == len(want) and page["active"] == []
    got = {c["id"]: c for c in page["items"]}
    assert set(got) == set(want)
    for linkedid, call in want.items():
        for key in ("caller_number", "caller_name", "queue", "outcome", "hangup_cause"):
            assert got[linkedid][key] == call[key], (linkedid, key)
        assert same_agent(got[linkedid]["agent"], call["agent"]), linkedid
    # Newest first, then pages that add up to the whole list.
    starts = [c["started_at"] for c in page["items"]]
    assert starts == sorted(starts, reverse=True)
    first = (await client.get("/api/v1/calls", headers=auth, params={"limit": 2})).json()
    rest = (await client.get("/api/v1/calls", headers=auth, params={"offset": 2})).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == [c["id"] for c in page["items"]]

    for outcome in ("answered", "abandoned", "timeout"):
        r = await client.get("/api/v1/calls", headers=auth, params={"outcome": outcome})
        ids = {c["id"] for c in r.json()["items"]}
        assert ids == {k for k, v in want.items() if v["outcome"] == outcome}, outcome
    agent = next(c["agent"] for c in page["items"] if c["agent"])
    r = await client.get("/api/v1/calls", headers=auth, params={"agent": agent})
    answered_by = {k for k, v in want.items() if same_agent(agent, v["agent"])}
    assert {c["id"] for c in r.json()["items"]} == answered_by
    some = next(iter(want.values()))
    r = await client.get("/api/v1/calls", headers=auth, params={"caller": some["caller_number"]})
    assert some["linkedid"] in {c["id"] for c in r.json()["items"]}

    oldest = min(starts)
    r = await client.get("/api/v1/calls", headers=auth, params={"until": oldest})
    assert r.json()["items"] == []
    r = await client.get("/api/v1/calls", headers=auth, params={"since": oldest})
    assert r.json()["total"] == len(want)
    naive = await client.get("/api/v1/calls", headers=auth, params={"since": "2026-11-23T09:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["message"]
    bad = await client.get("/api/v1/calls", headers=auth, params={"outcome": "lost"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"

    detail = (await client.get(f"/api/v1/calls/{some['linkedid']}", headers=auth)).json()
    assert detail["timeline"][0]["type"] == "call_started"
    assert detail["timeline"][-1]["type"] == "ended"
    missing = await client.get("/api/v1/calls/1234.5", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


class FlakySessions:
    """A session factory whose database is down for the first ``failures`` uses."""

    def __init__(
        self, real: Callable[[], AbstractAsyncContextManager[AsyncSession]], failures: int
    ):
        self.real = real
        self.failures = failures
        self.calls = 0

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("SELECT 1", {}, Exception("database is down"))
        return self.real()


async def test_database_outage_loses_no_call_and_never_blocks(container: Container) -> None:
    flaky = FlakySessions(container.session_maker, failures=3)
    writer = CallRecordWriter(flaky, retry_min=0.01, retry_max=0.05)  # type: ignore[arg-type]
    bus = EventBus()
    calls_subscribers.register(bus, writer, container.metrics)
    pipeline = EventPipeline(CallTracker(), AgentStateTracker(), bus, container.metrics)
    writer.start()
    try:
        feed_trace(pipeline, "concurrent.ami")  # returns at once: the AMI path never waits
        want = expected("concurrent.ami")
        assert writer.pending == len(want)
        async with asyncio.timeout(30):
            await writer.flush()
        assert writer.failures == 3 and writer.last_error is None
        # A replayed trace (e.g. resent after a reconnect) does not duplicate calls.
        feed_trace(pipeline, "concurrent.ami")
        async with asyncio.timeout(30):
            await writer.flush()
    finally:
        await writer.stop()
    async with container.sessions() as session:
        rows = (await session.execute(select(CallRecord.linkedid, CallRecord.outcome))).all()
        count = (await session.execute(select(func.count()).select_from(CallRecord))).scalar()
    assert count == len(want)
    assert {r.linkedid: r.outcome for r in rows} == {k: v["outcome"] for k, v in want.items()}


async def test_desk_stats_count_the_agents_answered_calls_of_the_local_day(
    container: Container, make_token: Callable[..., Any]
) -> None:
    def call(linkedid: str, local: str, outcome: Outcome, agent: str | None, talk: float) -> None:
        started = datetime.fromisoformat(local).timestamp()
        container.writer.submit(
            CallSummary(
                linkedid=linkedid,
                caller_number="13800138000",
                caller_name=None,
                dnis="4008001234",
                queue="hotline",
                outcome=outcome,
                agent=agent,
                started_at=started,
                ended_at=started + talk + 5,
                wait_s=5.0,
                talk_s=talk if outcome is Outcome.ANSWERED else None,
                hangup_cause=16,
            )
        )

    answered = Outcome.ANSWERED
    call("d.1", "2026-11-23T00:10:00+08:00", answered, "PJSIP/1001", 60.0)  # just after midnight
    call("d.2", "2026-11-23T23:50:00+08:00", answered, "PJSIP/1001", 30.25)
    call("d.3", "2026-11-22T23:59:00+08:00", answered, "PJSIP/1001", 99.0)  # the day before
    call("d.4", "2026-11-23T10:00:00+08:00", answered, "PJSIP/1002", 99.0)  # another agent
    call("d.5", "2026-11-23T11:00:00+08:00", Outcome.ABANDONED, None, 0.0)
    await container.writer.flush()

    async def rated(linkedid: str, local: str, rating: int, agent: str) -> None:
        async with container.sessions() as session, session.begin():
            await record_rating(
                session,
                linkedid=linkedid,
                uniqueid=linkedid,
                rating=rating,
                agent=agent,
                queue="hotline",
                rated_at=datetime.fromisoformat(local),
            )

    await rated("d.1", "2026-11-23T00:15:00+08:00", 5, "PJSIP/1001")
    await rated("d.2", "2026-11-23T23:55:00+08:00", 2, "PJSIP/1001")
    await rated("d.3", "2026-11-22T23:59:59+08:00", 1, "PJSIP/1001")  # the day before
    await rated("d.4", "2026-11-23T10:05:00+08:00", 1, "PJSIP/1002")  # another agent
    # 2026-11-23 15:00 UTC is 23:00 in Shanghai, the service's zone: still the 23rd.
    clock = FixedClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    app = create_http_app(dataclasses.replace(container.http_services(), clock=clock))
    token = await make_token("agent", agent="1001")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cti.test"
    ) as client:
        r = await client.get("/api/v1/desk/stats", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "extension": "1001",
            "day": "2026-11-23",
            "answered": 2,
            "talk_s": 90.2,
            "avg_talk_s": 45.1,
            "csat": {
                "count": 2,
                "average": 3.5,
                "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
            },
        }
        clock.advance(3600)  # midnight in Shanghai: a new day, nothing answered yet
        r = await client.get("/api/v1/desk/stats", headers={"Authorization": f"Bearer {token}"})
        assert r.json()["day"] == "2026-11-24" and r.json()["answered"] == 0
