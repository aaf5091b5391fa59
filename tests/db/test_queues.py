"""Live queue figures over HTTP and WS /ws/supervisor, from recorded traffic fed through the
container's pipeline (both trackers, the bus, the board), on SQLite and PostgreSQL.

Ground truth is Asterisk's queue_log of the same run (tests/groundtruth.py); today's
figures come through the injected ``TodaySoFar`` (the statistics own their definition).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cti.clock import FixedClock
from cti.container import Container
from cti.queues.today import TodayFigures
from cti.stats.backfill import read_trace, store_trace
from cti.stats.config import StatsSettings
from cti.stats.definitions import Interval
from cti.stats.service import StatsRequest, queue_stats
from cti.stats.today import StatsToday
from cti.tracking.values import timestamp
from tests.db.test_ws import connect_as, feed, frame, messages
from tests.groundtruth import read_queue_log
from tests.unit.test_queue_live import TRACES


def split_at(msgs: list[Mapping[str, str]], event: str) -> int:
    """The index just after the first ``event``."""
    return next(i for i, m in enumerate(msgs) if m.get("Event") == event) + 1


async def test_a_caller_waits_then_is_answered(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    truth = read_queue_log(TRACES / "answered.queue_log")
    (callid,) = truth
    msgs = messages("answered.ami")
    cut = split_at(msgs, "QueueCallerJoin")

    before = (await client.get("/api/v1/queues/hotline", headers=auth)).json()
    assert before["waiting"] == 0 and before["longest_wait_s"] is None

    feed(container, msgs[:cut])
    now = (await client.get("/api/v1/queues/hotline", headers=auth)).json()
    assert now["waiting"] == 1
    join = timestamp(msgs[cut - 1].get("Timestamp"))
    assert join is not None and int(join) == truth[callid].entered_at
    assert datetime.fromisoformat(now["oldest_waiting_since"]).timestamp() == pytest.approx(join)
    assert now["longest_wait_s"] >= 0

    def gauge(name: str, **labels: str) -> float | None:
        return container.metrics.registry.get_sample_value(name, {"queue": "hotline", **labels})

    assert gauge("cti_queue_callers_waiting") == 1  # /metrics says the same

    feed(container, msgs[cut:])
    after = (await client.get("/api/v1/queues/hotline", headers=auth)).json()
    assert after["waiting"] == 0 and after["longest_wait_s"] is None
    assert gauge("cti_queue_callers_waiting") == 0
    assert gauge("cti_queue_agents", state="available") == after["agents"]["available"] == 1
    # queue_log: 1001 connected, completed the call (no wrap-up for a member added by hand);
    # the AMI recording ends before queue_log's REMOVEMEMBER.
    assert [(m["extension"], m["state"]) for m in after["members"]] == [("1001", "available")]
    assert after["agents"]["available"] == 1 and after["agents"]["on_call"] == 0


async def test_paused_agents_by_reason_and_the_list(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    msgs = messages("agent_states.ami")
    # Up to the first pause (queue_log: 1001 PAUSE lunch).
    feed(container, msgs[: split_at(msgs, "QueueMemberPause")])
    page = (await client.get("/api/v1/queues", headers=auth)).json()
    hotline = next(q for q in page["items"] if q["queue"] == "hotline")
    assert hotline["agents"]["paused"] == 1
    assert hotline["agents"]["paused_by_reason"] == {"lunch": 1}
    assert hotline["members"][0]["state"] == "paused"
    assert hotline["members"][0]["paused_reason"] == "lunch"


async def test_unknown_queues_are_404_and_configured_ones_exist_before_any_call(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    page = (await client.get("/api/v1/queues", headers=auth)).json()
    assert [q["queue"] for q in page["items"]] == ["hotline"]
    r = await client.get("/api/v1/queues/nosuchqueue", headers=auth)
    assert r.status_code == 404
    assert "nosuchqueue" in r.json()["message"]
    # A queue Asterisk shows (a member's) becomes known without configuration.
    msg = dict(messages("agent_states.ami")[0])
    msg["Queue"] = "returns"
    container.pipeline.on_ami_event(msg)
    assert (await client.get("/api/v1/queues/returns", headers=auth)).status_code == 200


async def test_today_so_far_comes_from_the_injected_statistics(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    # Wired to the statistics: no call today yet.
    assert (await client.get("/api/v1/queues/hotline", headers=auth)).json()["today"] == {
        "offered": 0,
        "answered": 0,
        "abandoned": 0,
        "service_level": None,
        "threshold_s": 20.0,
    }
    asked: list[str] = []

    async def today(queue: str) -> TodayFigures | None:
        asked.append(queue)
        return TodayFigures(offered=10, answered=9, abandoned=1, service_level=0.8, threshold_s=20)

    container.queue_board.today = today
    body = (await client.get("/api/v1/queues/hotline", headers=auth)).json()
    assert asked == ["hotline"]
    assert body["today"] == {
        "offered": 10,
        "answered": 9,
        "abandoned": 1,
        "service_level": 0.8,
        "threshold_s": 20.0,
    }

    async def broken(queue: str) -> TodayFigures | None:
        raise RuntimeError("database down")

    container.queue_board.today = broken
    r = await client.get("/api/v1/queues/hotline", headers=auth)
    assert r.status_code == 200 and r.json()["today"] is None and r.json()["waiting"] == 0


async def test_the_waiting_series_samples_each_minute(
    container: Container, client: httpx.AsyncClient, make_token: Any
) -> None:
    auth = {"Authorization": f"Bearer {await make_token('stats:read')}"}
    msgs = messages("answered.ami")
    feed(container, msgs[: split_at(msgs, "QueueCallerJoin")])
    container.queue_board.sample()
    body = (await client.get("/api/v1/queues/hotline", headers=auth)).json()
    # The service's own ticker may have sampled an earlier minute (nobody waiting then).
    assert [p["waiting"] for p in body["waiting_series"]][-1:] == [1]
    assert all(p["waiting"] == 0 for p in body["waiting_series"][:-1])
    at = datetime.fromisoformat(body["waiting_series"][-1]["at"])
    assert at.utcoffset() == timedelta(hours=8)  # Beijing time
    assert at.second == 0 and body["day"] == at.date().isoformat()


async def queue_frame(ws: Any, queue: str = "hotline") -> dict[str, Any]:
    while True:
        f = await frame(ws)
        if f["type"] == "queue" and f["queue"] == queue:
            return f


async def test_supervisor_gets_queue_frames_as_callers_wait_and_are_answered(
    container: Container, server: str, make_token: Any
) -> None:
    sup = await make_token("stats:read")
    msgs = messages("answered.ami")
    cut = split_at(msgs, "QueueCallerJoin")
    async with connect_as(f"{server}/ws/supervisor", sup) as ws:
        snap = await frame(ws)
        assert snap["type"] == "snapshot"
        assert [(q["queue"], q["waiting"]) for q in snap["queues"]] == [("hotline", 0)]
        feed(container, msgs[:cut])
        waiting = await queue_frame(ws)
        assert waiting["waiting"] == 1 and waiting["oldest_waiting_since"] is not None
        feed(container, msgs[cut:])
        while True:
            f = await queue_frame(ws)
            if f["waiting"] == 0:
                break
        assert f["longest_wait_s"] is None


async def test_a_burst_of_events_gives_one_queue_frame(
    container: Container, server: str, make_token: Any
) -> None:
    """The whole concurrent trace (several callers, agents ringing and answering) arrives
    before the loop runs again: the supervisor gets one ``queue`` frame, the final state."""
    sup = await make_token("stats:read")
    board = container.queue_board
    async with connect_as(f"{server}/ws/supervisor", sup) as ws:
        await frame(ws)  # snapshot
        pushed = board.frames_pushed
        feed(container, messages("concurrent.ami"))
        f = await queue_frame(ws)
        assert f["waiting"] == 0
        assert board.frames_pushed == pushed + 1
        # Nothing changed since: another flush pushes nothing.
        board.flush()
        assert board.frames_pushed == pushed + 1
    await asyncio.sleep(0)


BURST = Path(__file__).resolve().parents[1] / "fixtures" / "traces" / "burst.ami"


async def test_today_so_far_is_the_statistics_of_the_business_day(container: Container) -> None:
    # The burst trace's day, asked at 20:00 Beijing time: the same totals as /stats.
    await store_trace(container.session_maker, read_trace(BURST))
    evening = datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    today = StatsToday(
        container.session_maker, StatsSettings(), "Asia/Shanghai", FixedClock(evening)
    )
    figures = await today("hotline")
    midnight = evening.replace(hour=0)
    async with container.sessions() as session:
        day = await queue_stats(
            session,
            StatsRequest("hotline", midnight, midnight + timedelta(days=1), Interval.DAY),
            settings=StatsSettings(),
            timezone="Asia/Shanghai",
            now=evening,
        )
    total = day["total"]
    assert figures is not None and figures.offered == total["offered"] == 14
    assert (figures.answered, figures.abandoned) == (total["answered"], total["abandoned"])
    assert figures.service_level == total["service_level_of_offered"]
