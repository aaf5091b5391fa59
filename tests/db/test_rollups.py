"""The statistics' rollups give exactly the figures of the raw rows, however rows arrive.

Every recorded trace with a queue_log is stored the way the service stores calls, agent
states and ratings, and again shifted by whole days and by odd amounts (so slots, days
and marks are crossed), partly out of order: a rating before its call, an agent's older
states after newer ones, the same trace twice. Then many periods with unaligned edges, in
zones whose offsets are whole hours, quarter hours and half hours, with and without DST,
must give the same body from the rollups as from the raw rows (``from_rollups=False``).

The writes only mark what they leave out of date; the statistics flush the marks before
reading the sums, so every comparison reads what was written just before it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.models import CallRecord
from cti.calls.writer import write_batch
from cti.container import Container
from cti.csat.ratings import rating_handler, rating_payload
from cti.csat.service import record_rating
from cti.events import CallRated
from cti.stats import rollups
from cti.stats.backfill import TraceContents, read_trace, store_trace
from cti.stats.config import StatsSettings
from cti.stats.definitions import DAY_S, MONTH_W, SLOT_S, Interval, Rules, split_period
from cti.stats.models import AgentTimeSlot, DirtyMark, QueueSlot
from cti.stats.service import StatsRequest, queue_stats
from cti.stats.writer import write_states
from cti.tracking.events import CallSummary

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
QUEUE_TRACES = sorted(p for p in TRACES.glob("*.ami") if p.with_suffix(".queue_log").is_file())
assert QUEUE_TRACES, f"recorded traces with a queue_log in {TRACES}"
ZONES = ("Asia/Shanghai", "Asia/Kathmandu", "America/New_York", "Australia/Lord_Howe", "UTC")
NOW = datetime(2030, 1, 1, tzinfo=UTC)
ANSWERED_CALLS = TRACES / "concurrent.ami"
"""Calls of the hotline queue answered by agents, for ratings."""


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


async def marks(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(DirtyMark)) or 0)


async def test_rollups_give_the_raw_rows_figures(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    instants = await store_everything(sessions)
    # The last trace's late writes are marked, not summed yet: the first read flushes.
    assert await marks(sessions)
    async with sessions() as session:
        assert await rollups.usable(session, Rules())
        # The rollups hold what they claim: slots of calls and agents' time.
        assert await session.scalar(select(func.count()).select_from(QueueSlot))
        assert await session.scalar(select(func.count()).select_from(AgentTimeSlot))
        stored = await session.scalar(select(func.count()).select_from(CallRecord))
    assert stored and stored >= 5 * len(QUEUE_TRACES)
    seen_agents = seen_calls = 0
    pieces = dict.fromkeys(("month", "day", "slot", "raw"), 0)
    for z, zone in enumerate(ZONES):
        # Kept as written in the service's zone (Asia/Shanghai); rebuilt for the others,
        # as a service started with another CTI_TIMEZONE rebuilds them.
        if zone != Rules().timezone:
            assert await rollups.ensure_built(sessions, Rules(timezone=zone))
        for i, (start, end) in enumerate(periods(instants, 6, seed=z)):
            split = split_period(start, end, days=ZoneInfo(zone))
            widths = {width for width, _, _ in split.ranges}
            pieces["month"] += MONTH_W in widths
            pieces["day"] += DAY_S in widths
            pieces["slot"] += SLOT_S in widths
            pieces["raw"] += bool(split.raw)
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
                assert not await marks(sessions)  # the read flushed them
    # The periods were about something: calls and agents' time were compared, read
    # from every kind of piece.
    assert seen_calls > 100 and seen_agents > 20
    assert min(pieces.values()) >= 3, pieces


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
    # Written meanwhile, days later: marked, then summed by the rebuild, which drops the marks.
    await store_trace(sessions, shifted(contents, 3 * 86400 + 1.5, "-later"))
    assert await marks(sessions)
    assert await rollups.ensure_built(sessions, rules)
    assert not await marks(sessions)
    assert not await rollups.ensure_built(sessions, rules)  # built once
    async with sessions() as session:
        assert await rollups.usable(session, rules)
        assert not await rollups.usable(session, Rules())
    rebuilt, raw_again = await both(sessions, request, "Asia/Shanghai", stricter)
    same(rebuilt, raw_again)
    assert rebuilt == rolled


async def test_a_read_before_any_flush_sees_every_write(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    contents = read_trace(QUEUE_TRACES[0])
    await store_trace(sessions, contents)  # builds the rollups, then only marks
    late = shifted(contents, 86400 + 437.25, "-late")
    await write_batch(sessions, late.calls, batch_hooks=[rollups.calls_hook()])
    async with sessions() as session, session.begin():
        await write_states(session, late.states)
    for call in [c for c in late.calls if c.agent][:2]:
        await rate(sessions, call, 4)
    assert await marks(sessions)
    first = datetime.fromtimestamp(min(s.started_at for s in contents.calls), UTC)
    request = StatsRequest("hotline", first - timedelta(hours=5), first + timedelta(days=3))
    async with sessions() as session:
        raw = await queue_stats(
            session, request, settings=StatsSettings(), timezone="Asia/Shanghai", now=NOW,
            from_rollups=False,
        )  # fmt: skip
    assert await marks(sessions)  # reading the raw rows flushes nothing
    rolled, raw_again = await both(sessions, request, "Asia/Shanghai")
    assert raw_again == raw and raw["total"]["offered"] >= 2 * len(
        [c for c in contents.calls if c.queue == "hotline"]
    )
    same(rolled, raw)
    assert not await marks(sessions)


async def test_a_mark_written_during_a_flush_stays_for_the_next(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = read_trace(QUEUE_TRACES[0])
    await store_trace(sessions, contents)
    before = await marks(sessions)
    assert before
    call = next(c for c in contents.calls if c.queue)
    at = datetime.fromtimestamp(call.started_at, UTC)
    recompute = rollups._recompute_marked

    async def written_meanwhile(session: AsyncSession, *args: Any) -> None:
        # Another writer commits its rows' mark after the flush read the marks.
        async with sessions() as other, other.begin():
            await other.execute(insert(DirtyMark).values(queue=call.queue, at=at))
        await recompute(session, *args)

    monkeypatch.setattr(rollups, "_recompute_marked", written_meanwhile)
    assert await rollups.flush(sessions, Rules()) == before
    monkeypatch.undo()
    # Exactly the mark written meanwhile is left: the flush deleted the marks it read.
    async with sessions() as session:
        left = list(await session.execute(select(DirtyMark.queue, DirtyMark.at)))
    assert left == [(call.queue, at)]
    assert await rollups.flush(sessions, Rules()) == 1
    assert not await marks(sessions)
    assert await rollups.flush(sessions, Rules()) == 0


async def rate_as_the_job(session: AsyncSession, call: CallSummary, rating: int) -> None:
    """The survey's rating job in ``session``'s transaction, with the statistics' hook the
    service gives it (cti.container: ``rollups.rating_written``)."""
    rated = CallRated(call.linkedid, call.linkedid, rating, call.agent, call.queue)
    write_rating = rating_handler(rollups.rating_written)
    await write_rating(session, rating_payload(rated, datetime.fromtimestamp(call.ended_at, UTC)))


def rated_day(contents: TraceContents) -> StatsRequest:
    """A period around the trace's calls: their slots and day are read from the rollups."""
    first = datetime.fromtimestamp(min(s.started_at for s in contents.calls), UTC)
    return StatsRequest("hotline", first - timedelta(hours=5), first + timedelta(days=2))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_rating_written_as_its_call_lands_is_summed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The caller rates and hangs up: the rating's job and the call's writer run at the
    same instant. The rating's transaction sees no call row; the call commits and its
    mark is flushed while the rating is not committed yet, so that flush sums the call
    without its rating. The rolled-up satisfaction must still be the raw one.

    PostgreSQL only: on SQLite the rating's transaction holds the one write lock from its
    insert to its commit, so the call's cannot commit in between (the test below covers
    the orders SQLite allows)."""
    contents = read_trace(ANSWERED_CALLS)
    await store_trace(sessions, contents)  # builds the rollups, then only marks
    call = next(c for c in contents.calls if c.agent and c.queue == "hotline")
    late = shifted(
        TraceContents(calls=[call], states=[], agents=contents.agents), 86400 + 437.25, "-late"
    )
    [late_call] = late.calls
    async with sessions() as rating, rating.begin():
        await rate_as_the_job(rating, late_call, 2)  # sees no call row
        # Meanwhile the call lands, and a flush sums its slot.
        await write_batch(sessions, late.calls, batch_hooks=[rollups.calls_hook()])
        assert await rollups.flush(sessions, Rules())
    rolled, raw = await both(sessions, rated_day(contents), "Asia/Shanghai")
    assert raw["total"]["csat"] == 2.0
    assert rolled["total"]["csat"] == raw["total"]["csat"]
    same(rolled, raw)
    assert not await marks(sessions)


async def test_a_rating_before_or_after_its_call_is_summed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A rating committed before its call is stored marks nothing a flush can sum yet:
    its mark goes, and the call's own mark sums the rating when the call lands. One
    committed after its call marks the call's slot."""
    contents = read_trace(ANSWERED_CALLS)
    await store_trace(sessions, contents)
    first, second = [c for c in contents.calls if c.agent and c.queue == "hotline"][:2]
    day = 86400 + 437.25
    early = shifted(TraceContents([first], [], contents.agents), day, "-early")
    later = shifted(TraceContents([second], [], contents.agents), day, "-later")
    async with sessions() as session, session.begin():
        await rate_as_the_job(session, early.calls[0], 5)
    await rollups.flush(sessions, Rules())
    assert not await marks(sessions)  # a rating of a call not stored leaves no mark behind
    await write_batch(sessions, early.calls, batch_hooks=[rollups.calls_hook()])
    rolled, raw = await both(sessions, rated_day(contents), "Asia/Shanghai")
    assert raw["total"]["csat"] == 5.0
    same(rolled, raw)
    await write_batch(sessions, later.calls, batch_hooks=[rollups.calls_hook()])
    await rollups.flush(sessions, Rules())
    async with sessions() as session, session.begin():
        await rate_as_the_job(session, later.calls[0], 2)
    rolled, raw = await both(sessions, rated_day(contents), "Asia/Shanghai")
    assert raw["total"]["csat"] == 3.5
    same(rolled, raw)
    assert not await marks(sessions)


async def test_the_service_flushes_what_its_writers_mark(container: Container) -> None:
    sessions = container.session_maker
    await rollups.ensure_built(sessions, container.stats_rules)  # as the service does at start
    contents = read_trace(QUEUE_TRACES[0])
    for call in contents.calls:
        container.writer.submit(call)
    # No read flushes here: the flusher, poked by the writer, recomputes in the background.
    for _ in range(600):
        async with sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(CallRecord))
            summed = await session.scalar(select(func.sum(QueueSlot.offered)))
        if stored == len(contents.calls) and not await marks(sessions) and summed:
            break
        await asyncio.sleep(0.05)
    assert stored == len(contents.calls) and summed and not await marks(sessions)
    assert container.rollup_flusher.flushes
    first = datetime.fromtimestamp(min(s.started_at for s in contents.calls), UTC)
    request = StatsRequest("hotline", first - timedelta(hours=5), first + timedelta(days=2))
    same(*await both(sessions, request, container.settings.timezone))
