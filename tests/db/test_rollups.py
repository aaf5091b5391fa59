"""The statistics' rollups give exactly the figures of the raw rows, however rows arrive.

Every recorded trace with a queue_log is stored the way the service stores calls, agent
states and ratings, and again shifted by whole days and by odd amounts (so slots, days
and marks are crossed), partly out of order: a rating before its call, an agent's older
states after newer ones, the same trace twice. Then many periods with unaligned edges, in
zones whose offsets are whole hours, quarter hours and half hours, with and without DST,
must give the same body from the rollups as from the raw rows (``from_rollups=False``).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.models import CallRecord
from cti.calls.writer import write_batch
from cti.csat.service import record_rating
from cti.stats import rollups
from cti.stats.backfill import TraceContents, read_trace, store_trace
from cti.stats.config import StatsSettings
from cti.stats.definitions import MONTH_W, Interval, Rules, split_period
from cti.stats.models import AgentTimeSlot, QueueSlot
from cti.stats.service import StatsRequest, queue_stats
from cti.stats.writer import write_states
from cti.tracking.events import CallSummary

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
QUEUE_TRACES = sorted(p for p in TRACES.glob("*.ami") if p.with_suffix(".queue_log").is_file())
ZONES = ("Asia/Shanghai", "Asia/Kathmandu", "America/New_York", "Australia/Lord_Howe", "UTC")
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def shifted(contents: TraceContents, seconds: float, tag: str) -> TraceContents:
    """The same trace ``seconds`` later, its calls under new Linkedids."""

    def call(s: CallSummary) -> CallSummary:
        return dataclasses.replace(
            s,
            linkedid=f"{s.linkedid}{tag}",
            started_at=s.started_at + seconds,
            ended_at=s.ended_at + seconds,
            timeline=[
                dataclasses.replace(
                    e, linkedid=f"{e.linkedid}{tag}", timestamp=e.timestamp + seconds
                )
                for e in s.timeline
            ],
        )

    states = [{**row, "at": row["at"] + timedelta(seconds=seconds)} for row in contents.states]
    return TraceContents(
        calls=[call(s) for s in contents.calls], states=states, agents=contents.agents
    )


def staying_logged_in(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without each agent's closing logout."""
    last = {row["interface"]: i for i, row in enumerate(states)}
    return [
        row
        for i, row in enumerate(states)
        if not (last[row["interface"]] == i and row["state"] == "logged_out")
    ]


async def rate(sessions: async_sessionmaker[AsyncSession], call: CallSummary, rating: int) -> None:
    """A rating as the survey's job stores it (cti.csat.ratings with the container's hook),
    a few seconds after the call."""
    async with sessions() as session, session.begin():
        await record_rating(
            session,
            linkedid=call.linkedid,
            uniqueid=call.linkedid,
            rating=rating,
            agent=call.agent,
            queue=call.queue,
            rated_at=datetime.fromtimestamp(call.ended_at + 5, UTC),
        )
        await rollups.rating_written(session, call.linkedid)


async def store_everything(sessions: async_sessionmaker[AsyncSession]) -> list[datetime]:
    """Every queue trace, shifted copies and ratings, in an unhelpful order; the instants
    of the calls (to aim periods at)."""
    instants: list[datetime] = []
    rng = random.Random(7)
    for trace in QUEUE_TRACES:
        contents = read_trace(trace)
        copies = [
            shifted(contents, days * 86400 + odd, f"-c{days}")
            for days, odd in ((0, 0), (1, 437.25), (3, 86.5), (40, 3600.5), (-2, 1234.0))
        ]
        # Ratings of the copy stored last are written before their calls exist.
        for call in [c for c in copies[4].calls if c.agent][:2]:
            await rate(sessions, call, rng.randint(1, 5))
        # In the first and third copies nobody logs out at the end: their last state lasts
        # for days, then for more than a month, across marks, slots, days and months.
        copies[0].states[:] = staying_logged_in(copies[0].states)
        copies[2].states[:] = staying_logged_in(copies[2].states)
        for copy in copies[:4]:
            await store_trace(sessions, copy)
        # Checked now too: a later out-of-order write recomputes much, and could hide a
        # rollup that was wrong until then.
        span = [datetime.fromtimestamp(c.started_at, UTC) for c in copies[3].calls]
        if span:
            checked = StatsRequest("hotline", min(span) - timedelta(days=75), max(span))
            same(*await both(sessions, checked, "Asia/Shanghai"), f"after {trace.name}")
        # The oldest copy last: agents' older states after their newer ones, calls in
        # batches of odd sizes, in reverse.
        calls = list(reversed(copies[4].calls))
        for i in range(0, len(calls), 3):
            await write_batch(sessions, calls[i : i + 3], batch_hooks=[rollups.calls_hook()])
        states = copies[4].states
        for i in range(0, len(states), 5):
            async with sessions() as session, session.begin():
                await write_states(session, states[i : i + 5])
        await store_trace(sessions, copies[0])  # twice changes nothing
        for copy in copies[:4]:
            for s in copy.calls:
                if s.agent and rng.random() < 0.5:
                    await rate(sessions, s, rng.randint(1, 5))
        instants += [
            datetime.fromtimestamp(s.started_at, UTC) for copy in copies for s in copy.calls
        ]
    return sorted(instants)


def periods(instants: list[datetime], count: int, seed: int) -> list[tuple[datetime, datetime]]:
    """Periods around the calls with edges anywhere: to the second, on slots, on days."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        a, b = sorted(rng.sample(instants, 2))
        kind = rng.choice(("odd", "slot", "day", "wide", "months"))
        if kind == "odd":
            start = a - timedelta(seconds=rng.uniform(0, 3000))
            end = b + timedelta(seconds=rng.uniform(1, 3000))
        elif kind == "slot":
            start = datetime.fromtimestamp(int(a.timestamp()) // 900 * 900, UTC)
            end = datetime.fromtimestamp(-(-int(b.timestamp()) // 900) * 900 + 900, UTC)
        elif kind == "day":
            start = datetime.fromtimestamp(int(a.timestamp()) // 86400 * 86400, UTC)
            end = start + timedelta(days=rng.randint(1, 6))
        elif kind == "wide":
            start = a - timedelta(days=rng.uniform(0, 3))
            end = b + timedelta(days=rng.uniform(0, 3))
        else:
            start = a - timedelta(days=rng.uniform(0, 50))
            end = b + timedelta(days=rng.uniform(0, 50))
        out.append((start, end))
    return out


async def both(
    sessions: async_sessionmaker[AsyncSession],
    request: StatsRequest,
    zone: str,
    settings: StatsSettings | None = None,
    built: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = StatsSettings() if settings is None else settings
    async with sessions() as session:
        # The rollups are used, not skipped (built in this zone with these thresholds).
        assert await rollups.usable(session, settings.rules(zone)) is built
        rolled = await queue_stats(session, request, settings=settings, timezone=zone, now=NOW)
        raw = await queue_stats(
            session, request, settings=settings, timezone=zone, now=NOW, from_rollups=False
        )
    return rolled, raw


def same(rolled: Any, raw: Any, where: str = "") -> None:
    """Equal, floats to the last digit their rounding keeps (sums in another order)."""
    if isinstance(raw, dict):
        assert isinstance(rolled, dict) and rolled.keys() == raw.keys(), where
        for key in raw:
            same(rolled[key], raw[key], f"{where}.{key}")
    elif isinstance(raw, list):
        assert isinstance(rolled, list) and len(rolled) == len(raw), where
        for i, (a, b) in enumerate(zip(rolled, raw, strict=True)):
            same(a, b, f"{where}[{i}]")
    elif isinstance(raw, float) and isinstance(rolled, float):
        assert rolled == pytest.approx(raw, abs=0.10001), where
    else:
        assert rolled == raw, where


@pytest.mark.skipif(not QUEUE_TRACES, reason="no recorded traces")
async def test_rollups_give_the_raw_rows_figures(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    instants = await store_everything(sessions)
    async with sessions() as session:
        assert await rollups.usable(session, Rules())
        # The rollups hold what they claim: slots of calls and agents' time.
        assert await session.scalar(select(func.count()).select_from(QueueSlot))
        assert await session.scalar(select(func.count()).select_from(AgentTimeSlot))
        stored = await session.scalar(select(func.count()).select_from(CallRecord))
    assert stored and stored >= 5 * len(QUEUE_TRACES)
    seen_agents = seen_calls = months = 0
    for z, zone in enumerate(ZONES):
        # Kept as written in the service's zone (Asia/Shanghai); rebuilt for the others,
        # as a service started with another CTI_TIMEZONE rebuilds them.
        if zone != Rules().timezone:
            assert await rollups.ensure_built(sessions, Rules(timezone=zone))
        for i, (start, end) in enumerate(periods(instants, 10, seed=z)):
            split = split_period(start, end, days=ZoneInfo(zone))
            months += any(width == MONTH_W for width, _, _ in split.ranges)
            interval = (Interval.MIN15, Interval.HOUR, Interval.DAY)[i % 3]
            # Within CTI_STATS_MAX_INTERVALS.
            if end - start > timedelta(days=120):
                interval = Interval.DAY
            elif interval is Interval.MIN15 and end - start > timedelta(days=30):
                interval = Interval.HOUR
            for queue in ("hotline", "hotline-ringall"):
                request = StatsRequest(queue, start, end, interval)
                rolled, raw = await both(sessions, request, zone)
                same(rolled, raw, f"{queue} {start}..{end} {zone} {interval.value}")
                seen_calls += raw["total"]["offered"]
                seen_agents += sum(1 for a in raw["agents"] if a["logged_in_s"])
    # The periods were about something: calls and agents' time were compared.
    assert seen_calls > 100 and seen_agents > 20 and months > 3


async def test_other_thresholds_rebuild_the_rollups(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    trace = QUEUE_TRACES[0]
    contents = read_trace(trace)
    await store_trace(sessions, contents)
    stricter = StatsSettings(sl_threshold_s=3, short_abandon_s=1)
    rules = stricter.rules()
    async with sessions() as session:
        assert not await rollups.usable(session, rules)
    # Until rebuilt the figures come from the raw rows, so they are right meanwhile.
    first = datetime.fromtimestamp(min(s.started_at for s in contents.calls), UTC)
    request = StatsRequest("hotline", first - timedelta(hours=5), first + timedelta(days=2))
    rolled, raw = await both(sessions, request, "Asia/Shanghai", stricter, built=False)
    same(rolled, raw)
    assert await rollups.ensure_built(sessions, rules)
    assert not await rollups.ensure_built(sessions, rules)  # built once
    async with sessions() as session:
        assert await rollups.usable(session, rules)
        assert not await rollups.usable(session, Rules())
    rebuilt, raw_again = await both(sessions, request, "Asia/Shanghai", stricter)
    same(rebuilt, raw_again)
    assert rebuilt == rolled
