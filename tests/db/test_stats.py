"""Queue statistics from stored call records agree with Asterisk's queue_log.

Every recorded trace with a queue_log is stored the way ``cti replay --store`` stores
it, into a fresh database (SQLite and PostgreSQL); the statistics then equal what the
trace's queue_log (and CDR, for the preferred agent's calls) say, and the SQL sums
equal the pure reference (:func:`cti.stats.definitions.sums_of`) bucket by bucket.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from cti.calls.models import CallRecord
from cti.container import Container
from cti.csat.models import CsatRating
from cti.csat.ratings import submit_rating
from cti.db.engine import create_engine, session_factory
from cti.events import CallRated
from cti.stats.backfill import read_trace, store_trace
from cti.stats.config import StatsSettings
from cti.stats.definitions import CallRow, Interval, StateRow, agent_time, sums_of
from cti.stats.erlang import StaffingInput, staffing, staffing_json
from cti.stats.models import AgentStateRecord
from cti.stats.queries import agent_state_time, interval_sums
from cti.stats.service import StatsRequest, queue_stats
from cti.stats.writer import write_states
from cti.tracking.replay import replay
from tests.statstruth import agent_row, check_agents, check_totals, queue_figures

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
QUEUE_TRACES = sorted(p for p in TRACES.glob("*.ami") if p.with_suffix(".queue_log").is_file())
TZ = "Asia/Shanghai"
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def period(trace: Path) -> tuple[datetime, datetime]:
    """Whole local days around every row of the trace's queue_log."""
    times = [
        int(line.split("|")[0])
        for line in trace.with_suffix(".queue_log").read_text().splitlines()
        if line
    ]
    tz = ZoneInfo(TZ)
    first = datetime.fromtimestamp(min(times), tz).replace(hour=0, minute=0, second=0)
    last = datetime.fromtimestamp(max(times), tz).replace(hour=0, minute=0, second=0)
    return first, last + timedelta(days=1)


async def store(database_url: str, trace: Path) -> int:
    engine = create_engine(database_url)
    try:
        return await store_trace(session_factory(engine), read_trace(trace))
    finally:
        await engine.dispose()


async def stats_of(database_url: str, trace: Path, queue: str, interval: Interval) -> Any:
    start, end = period(trace)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return await queue_stats(
                session,
                StatsRequest(queue, start, end, interval),
                settings=StatsSettings(),
                timezone=TZ,
                now=NOW,
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("trace", QUEUE_TRACES, ids=lambda p: p.stem)
async def test_stats_of_a_stored_trace_equal_its_queue_log(database_url: str, trace: Path) -> None:
    await store(database_url, trace)
    truth = queue_figures(trace)
    assert truth, "a queue_log with calls"
    for queue, want in truth.items():
        body = await stats_of(database_url, trace, queue, Interval.DAY)
        got = body["total"]
        check_totals(got, want, wrapup_s=5 if trace.stem == "agent_states" else 0)
        assert got["voicemails"] == 0  # the traces' voicemail app was never reachable
        check_agents(body, want)
        # Intervals add up to the total whatever their length.
        for interval in (Interval.HOUR, Interval.MIN15):
            finer = await stats_of(database_url, trace, queue, interval)
            for key in ("offered", "answered", "abandoned", "timeouts", "transfers"):
                assert sum(i[key] for i in finer["intervals"]) == got[key]


@pytest.mark.parametrize("trace", QUEUE_TRACES, ids=lambda p: p.stem)
async def test_sql_sums_equal_the_pure_reference(database_url: str, trace: Path) -> None:
    await store(database_url, trace)
    start, end = period(trace)
    tz = ZoneInfo(TZ)
    rules = StatsSettings(sl_threshold_s=10, short_abandon_s=12).rules()
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            records = (await session.execute(select(CallRecord))).scalars().all()
            # Callers rate some calls (CSAT is summed with the rest).
            ratings = {r.linkedid: 1 + r.id % 5 for r in records if r.id % 3}
            session.add_all(
                CsatRating(linkedid=linkedid, rating=rating, rated_at=NOW, uniqueid=linkedid)
                for linkedid, rating in ratings.items()
            )
            await session.commit()
            rows = [
                CallRow(
                    offered_at=r.offered_at,
                    answered_at=r.answered_at,
                    outcome=r.outcome,
                    wait_s=r.wait_s,
                    talk_s=r.talk_s,
                    wrapup_s=r.wrapup_s,
                    transfers=r.transfers,
                    voicemail=r.voicemail,
                    started_at=r.started_at,
                    agent=r.agent,
                    direction=r.direction,
                    rating=ratings.get(r.linkedid),
                )
                for r in records
            ]
            for queue in {r.queue for r in records if r.queue}:
                mine = [row for row, r in zip(rows, records, strict=True) if r.queue == queue]
                for interval in Interval:
                    sql = await interval_sums(
                        session,
                        queue=queue,
                        start=start,
                        end=end,
                        interval=interval,
                        tz=tz,
                        rules=rules,
                    )
                    ref = sums_of(mine, interval, tz, rules)
                    assert sql.keys() == ref.keys()
                    for key, want in ref.items():
                        got = sql[key]
                        assert got.longest_wait_s == pytest.approx(want.longest_wait_s)
                        assert got.wait_answered_s == pytest.approx(want.wait_answered_s)
                        assert got.talk_s == pytest.approx(want.talk_s)
                        assert got.wrapup_s == pytest.approx(want.wrapup_s)
                        got.longest_wait_s = want.longest_wait_s
                        got.wait_answered_s, got.talk_s = want.wait_answered_s, want.talk_s
                        got.wrapup_s = want.wrapup_s
                        assert got == want
    finally:
        await engine.dispose()


@pytest.mark.parametrize("trace", QUEUE_TRACES, ids=lambda p: p.stem)
async def test_sql_agent_time_equals_the_pure_reference(database_url: str, trace: Path) -> None:
    # The database sums each agent's time per state; agent_time() is the definition.
    await store(database_url, trace)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            stored = (await session.execute(select(AgentStateRecord))).scalars().all()
            rows: dict[str, list[StateRow]] = {}
            for r in stored:
                rows.setdefault(r.interface, []).append(
                    StateRow(r.interface, r.state, r.at, r.paused_reason)
                )
            assert rows, "a trace with agents"
            times = sorted(r.at for r in stored)
            first, last = times[0], times[-1]
            tick = timedelta(milliseconds=500)
            periods = [
                (first - timedelta(hours=1), last + timedelta(hours=1)),  # every row
                (times[len(times) // 3] + tick, times[2 * len(times) // 3] + tick),  # cut
                (first + tick, last - tick),
                (times[len(times) // 2], times[len(times) // 2]),  # empty
            ]
            names = [*sorted(rows), "PJSIP/9999"]  # and an agent without rows
            for start, until in periods:
                got = await agent_state_time(session, names=names, start=start, until=until)
                assert got.keys() == set(names)
                for name in names:
                    want = agent_time(rows.get(name, []), start, until)
                    have = got[name]
                    assert have.pause_by_reason.keys() == want.pause_by_reason.keys()
                    for reason, seconds in want.pause_by_reason.items():
                        assert have.pause_by_reason[reason] == pytest.approx(seconds, abs=1e-3)
                    for part in ("logged_in_s", "paused_s", "on_call_s", "wrap_up_s"):
                        assert getattr(have, part) == pytest.approx(
                            getattr(want, part), abs=1e-3
                        ), (name, part, start, until)
                    assert have.ringing_s == pytest.approx(want.ringing_s, abs=1e-3)
                    assert have.available_s == pytest.approx(want.available_s, abs=1e-3)
    finally:
        await engine.dispose()


async def test_two_rows_of_one_instant_before_the_period_last_nothing_in_it(
    database_url: str,
) -> None:
    # An agent logged in and out in the same instant (two rows, one `at`), and back for
    # an hour later: a period opening between them opens on both rows. The first ends at
    # that instant, before the period: it must count nothing, not minus the time since
    # (found by benchmarks/stats.py against the rollups, over a year of simulated shifts).
    trace = TRACES / "agent_states.ami"
    await store(database_url, trace)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            last = (
                await session.execute(
                    select(AgentStateRecord).order_by(AgentStateRecord.at.desc()).limit(1)
                )
            ).scalar_one()
            assert last.state == "logged_out"

            def row(state: str, at: datetime) -> dict[str, Any]:
                return {
                    "interface": last.interface,
                    "member_name": last.member_name,
                    "state": state,
                    "previous": "logged_out" if state == "available" else "available",
                    "at": at,
                    "paused_reason": "",
                    "queue": last.queue,
                }

            back = last.at + timedelta(hours=1)
            logins = [row("available", last.at), row("available", back)]
            await write_states(session, [*logins, row("logged_out", back + timedelta(hours=1))])
        async with session_factory(engine)() as session:
            rows = [
                StateRow(r.interface, r.state, r.at, r.paused_reason)
                for r in (
                    await session.execute(
                        select(AgentStateRecord).where(AgentStateRecord.interface == last.interface)
                    )
                ).scalars()
            ]
            start = last.at + timedelta(minutes=30)
            until = start + timedelta(days=1)
            got = await agent_state_time(session, names=[last.interface], start=start, until=until)
        assert agent_time(rows, start, until).logged_in_s == pytest.approx(3600)
        assert got[last.interface].logged_in_s == pytest.approx(3600)
        assert got[last.interface].available_s == pytest.approx(3600)
    finally:
        await engine.dispose()


async def test_pause_time_by_reason_and_wrap_up_follow_queue_log(database_url: str) -> None:
    # agent_states: PAUSE lunch, a second later PAUSE training, a second later UNPAUSE;
    # two calls with 5 s wrap-up; then the agent is removed (logged out).
    trace = TRACES / "agent_states.ami"
    await store(database_url, trace)
    body = await stats_of(database_url, trace, "hotline", Interval.DAY)
    agent = agent_row(body, "1001")
    assert agent["pause_by_reason"] == {
        "lunch": pytest.approx(1, abs=0.1),
        "training": pytest.approx(1, abs=0.1),
    }
    assert agent["wrapup_s"] == 10.0
    # ADDMEMBER ... REMOVEMEMBER in queue_log: 1795431427 .. 1795431466.
    assert agent["logged_in_s"] == pytest.approx(1795431466 - 1795431427, abs=1.5)
    busy = agent["talk_s"] + agent["wrapup_s"]
    staffed = agent["logged_in_s"] - agent["paused_s"]
    assert agent["occupancy"] == pytest.approx(busy / staffed, abs=0.02)


async def cti(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env |= {"CTI_DATABASE_URL": database_url, "CTI_DATA_DIR": str(data_dir)}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cti", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def counts(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            calls = (await session.execute(select(func.count(CallRecord.id)))).scalar_one()
            states = (await session.execute(select(func.count(AgentStateRecord.id)))).scalar_one()
            return calls, states
    finally:
        await engine.dispose()


async def test_replay_store_twice_gives_the_same_rows_and_cti_stats_prints_the_api_body(
    database_url: str,
    tmp_path: Path,
    container: Container,
    client: httpx.AsyncClient,
    make_token: Callable[..., Any],
) -> None:
    trace = TRACES / "preferred_agent.ami"
    first = await cti(database_url, tmp_path, "replay", str(trace), "--store")
    assert first.returncode == 0, first.stderr
    assert "stored 2 new of 2 calls" in first.stdout
    stored = await counts(database_url)
    again = await cti(database_url, tmp_path, "replay", str(trace), "--store")
    assert again.returncode == 0 and "stored 0 new of 2 calls" in again.stdout
    assert await counts(database_url) == stored

    # The container's database is another one: fill it the same way.
    await store(container.settings.effective_database_url, trace)
    args = {"from": "2026-11-23T00:00:00+08:00", "to": "2026-11-24T00:00:00+08:00"}
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    api = await client.get("/api/v1/queues/hotline/stats", params=args, headers=auth)
    assert api.status_code == 200
    body = api.json()
    # The preferred agent's call counts for the hotline although queue_log lacks it.
    assert body["total"]["offered"] == 2 and body["total"]["answered"] == 2
    printed = await cti(
        container.settings.effective_database_url,
        tmp_path,
        "stats",
        "--queue",
        "hotline",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-24",
        "--interval",
        "1h",
        "--json",
    )
    assert printed.returncode == 0, printed.stderr
    from_cli = json.loads(printed.stdout)
    # Agents' open-ended states run until "now", which differs between the two calls.
    for side in (from_cli, body):
        for agent in side["agents"]:
            agent.pop("logged_in_s"), agent.pop("occupancy")
    assert list(from_cli) == list(body) and from_cli == body
    assert list(from_cli["intervals"][0]) == list(body["intervals"][0])


async def test_stats_as_csv_and_the_clear_refusals(
    container: Container, client: httpx.AsyncClient, make_token: Callable[..., Any]
) -> None:
    await store(container.settings.effective_database_url, TRACES / "burst.ami")
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    day = {"from": "2026-11-23T00:00:00+08:00", "to": "2026-11-24T00:00:00+08:00"}
    url = "/api/v1/queues/hotline/stats"
    body = (await client.get(url, params={**day, "interval": "1h"}, headers=auth)).json()
    assert len(body["intervals"]) == 24
    assert body["intervals"][0]["start"] == "2026-11-23T00:00:00+08:00"
    got = await client.get(url, params={**day, "interval": "1h", "format": "csv"}, headers=auth)
    assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8"))))
    assert [r["row"] for r in rows] == ["interval"] * 24 + ["total"]
    assert int(rows[-1]["offered"]) == body["total"]["offered"] == 14
    assert sum(int(r["offered"]) for r in rows[:-1]) == 14
    agents = await client.get(url, params={**day, "format": "csv", "part": "agents"}, headers=auth)
    table = list(csv.DictReader(io.StringIO(agents.text)))
    assert {r["agent"] for r in table} == {a["agent"] for a in body["agents"]}

    for params, field in (
        ({**day, "to": day["from"]}, "to"),
        ({**day, "interval": "5m"}, "interval"),
        ({"from": "2026-01-01T00:00:00+08:00", "to": "2027-06-01T00:00:00+08:00"}, "to"),
        ({"from": "2026-01-01T00:00:00+08:00", "to": "2026-03-01T00:00:00+08:00",
          "interval": "15m"}, "interval"),
        ({"from": "2026-11-23T00:00:00", "to": day["to"]}, "from"),
    ):  # fmt: skip
        refused = await client.get(url, params=params, headers=auth)
        assert refused.status_code == 422, params
        assert field in refused.text, refused.text


async def test_calls_stored_before_the_statistics_columns_get_them_from_their_timeline(
    database_url: str,
) -> None:
    # Revision 0012 backfills offered_at (the last QUEUED before the answer), answered_at
    # and transfers from call_events: transfer_to_queue is queued, answered, transferred
    # back into the queue (queued again) and answered again.
    from alembic import command
    from sqlalchemy import text

    from cti.calls.writer import to_record
    from cti.db.migrate import alembic_config, upgrade

    with (TRACES / "transfer_to_queue.ami").open("rb") as fh:
        (summary,) = list(replay(fh))
    record = to_record(summary)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0011")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO calls (id, linkedid, outcome, started_at, ended_at, direction)"
                    " VALUES (1, :linkedid, 'answered', :started, :ended, 'inbound')"
                ),
                {
                    "linkedid": record.linkedid,
                    "started": record.started_at,
                    "ended": record.ended_at,
                },
            )
            for ev in record.events:
                await conn.execute(
                    text(
                        "INSERT INTO call_events (call_id, seq, type, at, data)"
                        " VALUES (1, :seq, :type, :at, '{}')"
                    ),
                    {"seq": ev.seq, "type": ev.type, "at": ev.at},
                )
        await asyncio.to_thread(upgrade, database_url, "head")
        async with session_factory(engine)() as session:
            got = (await session.execute(select(CallRecord))).scalar_one()
    finally:
        await engine.dispose()
    assert record.transfers == 1 and record.offered_at is not None
    assert (got.offered_at, got.answered_at, got.transfers) == (
        record.offered_at,
        record.answered_at,
        record.transfers,
    )


async def test_live_traffic_stores_the_same_history_as_a_replayed_trace(
    container: Container,
) -> None:
    # The live path: AMI events through the pipeline, state changes over the bus to the
    # agent state writer, finished calls to the call record writer (with the wrap-up).
    from tests.db.test_calls import feed_trace

    trace = TRACES / "agent_states.ami"
    feed_trace(container, trace.name)
    await container.writer.flush()
    await container.agent_state_writer.flush()
    async with container.sessions() as session:
        states = (await session.execute(select(AgentStateRecord))).scalars().all()
        calls = (await session.execute(select(CallRecord))).scalars().all()
    replayed = read_trace(trace)
    key = ("interface", "state", "previous", "at", "paused_reason", "queue")
    assert sorted(tuple(getattr(s, k) for k in key) for s in states) == sorted(
        tuple(r[k] for k in key) for r in replayed.states
    )
    assert [c.wrapup_s for c in calls] == [5.0, 5.0]  # the members' Wrapuptime


async def test_staffing_sizes_the_measured_load_with_erlang_c(
    container: Container, client: httpx.AsyncClient, make_token: Callable[..., Any]
) -> None:
    # The burst trace: its day's offered calls and AHT, as /stats measures them, are the
    # load Erlang C sizes.
    await store(container.settings.effective_database_url, TRACES / "burst.ami")
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    day = {"from": "2026-11-23T00:00:00+08:00", "to": "2026-11-24T00:00:00+08:00"}
    measured = (await client.get("/api/v1/queues/hotline/stats", params=day, headers=auth)).json()
    got = await client.get(
        "/api/v1/queues/hotline/staffing",
        params={**day, "target_sl": 0.8, "threshold_s": 20, "shrinkage": 0.3},
        headers=auth,
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["measured"]["offered"] == measured["total"]["offered"] == 14
    assert body["measured"]["aht_s"] == measured["total"]["aht_s"]
    expected = staffing(
        StaffingInput(
            calls_per_hour=14 / 24,
            aht_s=measured["total"]["aht_s"],
            target_sl=0.8,
            threshold_s=20,
            shrinkage=0.3,
        )
    )
    assert body["agents"] == expected.agents
    assert body["scheduled_agents"] == expected.scheduled_agents
    assert {k: v for k, v in body.items() if k not in ("queue", "measured")} == staffing_json(
        expected
    )

    # A day without calls has no load to size; out-of-range targets are refused too.
    empty = {"from": "2026-11-20T00:00:00+08:00", "to": "2026-11-21T00:00:00+08:00"}
    for params in (empty, {**day, "target_sl": 80}, {**day, "shrinkage": 1}):
        refused = await client.get("/api/v1/queues/hotline/staffing", params=params, headers=auth)
        assert refused.status_code == 422, (params, refused.text)
    nothing = await client.get("/api/v1/queues/hotline/staffing", params=empty, headers=auth)
    assert "no load to size" in nothing.json()["message"]


async def test_csat_is_the_mean_rating_of_the_rated_calls(
    container: Container, client: httpx.AsyncClient, make_token: Callable[..., Any]
) -> None:
    await store(container.settings.effective_database_url, TRACES / "burst.ami")
    async with container.sessions() as s, s.begin():
        answered = (
            (
                await s.execute(
                    select(CallRecord)
                    .where(CallRecord.answered_at.is_not(None), CallRecord.queue == "hotline")
                    .order_by(CallRecord.offered_at)
                    .limit(2)
                )
            )
            .scalars()
            .all()
        )
        rated_calls = [(c.linkedid, c.agent) for c in answered]
    # As the survey rates them: a durable job per rating, run by the service's job runner.
    for (linkedid, agent), rating in zip(rated_calls, (4, 5), strict=True):
        rated = CallRated(
            uniqueid=linkedid, linkedid=linkedid, rating=rating, agent=agent, queue="hotline"
        )
        await submit_rating(container.spool, rated, container.clock)
    while await container.jobs.run_once():
        pass
    agents = {agent for _, agent in rated_calls}
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    day = {"from": "2026-11-23T00:00:00+08:00", "to": "2026-11-24T00:00:00+08:00"}
    body = (await client.get("/api/v1/queues/hotline/stats", params=day, headers=auth)).json()
    assert body["total"]["csat"] == 4.5
    assert sorted(i["csat"] for i in body["intervals"] if i["csat"] is not None) in (
        [4.5],
        [4.0, 5.0],
    )
    rated = {a["agent"]: a["csat"] for a in body["agents"] if a["agent"] in agents}
    assert set(rated.values()) <= {4.0, 5.0, 4.5} and len(rated) == len(agents)
    unrated = [a["csat"] for a in body["agents"] if a["agent"] not in agents]
    assert set(unrated) <= {None}
