"""Which part of a period the statistics read from the rollups, and how an agent's time
is cut into slots (cti.stats.definitions, pure)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.stats.backfill import read_trace
from cti.stats.definitions import (
    DAY_S,
    MONTH_W,
    SLOT_S,
    PeriodSplit,
    StateRow,
    agent_time,
    day_floor,
    day_starts,
    month_floor,
    month_starts,
    next_day,
    split_period,
    state_slot_seconds,
)

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
ZONES = tuple(map(ZoneInfo, ("Asia/Shanghai", "Asia/Kathmandu", "America/New_York", "UTC")))
UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 11, 23, 3, 7, 11, 250000, tzinfo=UTC)


def covered_seconds(
    start: datetime, end: datetime, covered: int | None, zone: ZoneInfo | None
) -> list[tuple[float, float]]:
    split = split_period(start, end, covered, days=zone)
    pieces = [(a.timestamp(), b.timestamp()) for a, b in split.raw]
    pieces += [(float(a), float(b)) for _, a, b in split.ranges]
    for width, a, b in split.ranges:
        assert a % SLOT_S == 0 and b % SLOT_S == 0 and a < b
        if covered is not None:
            assert b <= covered
        if width != SLOT_S:  # whole local days or months of the zone
            assert zone is not None
            floor = day_floor if width == DAY_S else month_floor
            assert (floor(a, zone), floor(b, zone)) == (a, b)
    return sorted(pieces)


@pytest.mark.parametrize("seed", range(40))
def test_the_pieces_cover_the_period_once(seed: int) -> None:
    rng = random.Random(seed)
    start = T0 + timedelta(seconds=rng.uniform(-5 * DAY_S, 5 * DAY_S))
    end = start + timedelta(
        seconds=rng.choice((1, 300, 900, 4000, DAY_S, 9 * DAY_S, 80 * DAY_S)) * rng.random()
    )
    end += timedelta(microseconds=1)
    covered = rng.choice(
        (None, int(start.timestamp()) // SLOT_S * SLOT_S + SLOT_S * rng.randint(-4, 9000))
    )
    zone = rng.choice((None, *ZONES))
    pieces = covered_seconds(start, end, covered, zone)
    assert pieces[0][0] == pytest.approx(start.timestamp())
    assert pieces[-1][1] == pytest.approx(end.timestamp())
    for (_, a_end), (b_start, _) in itertools.pairwise(pieces):
        assert a_end == pytest.approx(b_start)  # no gap, no overlap


def test_a_month_of_the_business_zone_is_one_month_row() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 11, 1, tzinfo=shanghai)
    end = start + timedelta(days=30)
    split = split_period(start, end, days=shanghai)
    assert split == PeriodSplit(ranges=((MONTH_W, int(start.timestamp()), int(end.timestamp())),))
    # Read with UTC days: 8 hours of slots, 29 days, 16 hours of slots.
    split = split_period(start, end, days=ZoneInfo("UTC"))
    assert [(w, (b - a) // SLOT_S) for w, a, b in split.ranges] == [
        (SLOT_S, 32), (DAY_S, 29 * 96), (SLOT_S, 64)
    ]  # fmt: skip
    # 5 November to 20 January: days, the month of December, days.
    split = split_period(
        start + timedelta(days=4), datetime(2027, 1, 20, tzinfo=shanghai), days=shanghai
    )
    assert [(w, (b - a) // DAY_S) for w, a, b in split.ranges] == [
        (DAY_S, 26), (MONTH_W, 31), (DAY_S, 19)
    ]  # fmt: skip


def test_a_day_when_clocks_change_is_23_or_25_hours() -> None:
    new_york = ZoneInfo("America/New_York")
    spring = day_floor(datetime(2026, 3, 8, 12, tzinfo=new_york).timestamp(), new_york)
    autumn = day_floor(datetime(2026, 11, 1, 12, tzinfo=new_york).timestamp(), new_york)
    assert next_day(spring, new_york) - spring == 23 * 3600
    assert next_day(autumn, new_york) - autumn == 25 * 3600
    assert day_starts(spring, autumn, new_york)[-1] == autumn
    assert day_starts(spring, autumn + 1, new_york)[-1] == autumn + DAY_S + 3600


def test_days_and_months_start_at_local_midnight_in_zones_off_the_hour() -> None:
    # Lord Howe Island moves its clocks by half an hour: days of 24.5 and 23.5 hours.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    autumn = day_floor(datetime(2026, 4, 5, 12, tzinfo=lord_howe).timestamp(), lord_howe)
    spring = day_floor(datetime(2026, 10, 4, 12, tzinfo=lord_howe).timestamp(), lord_howe)
    assert next_day(autumn, lord_howe) - autumn == DAY_S + 1800
    assert next_day(spring, lord_howe) - spring == DAY_S - 1800
    for name in ("Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "Australia/Lord_Howe"):
        tz = ZoneInfo(name)
        lo = int(datetime(2026, 1, 1, tzinfo=tz).timestamp())
        days = day_starts(lo, lo + 400 * DAY_S, tz)
        months = month_starts(lo, lo + 400 * DAY_S, tz)
        assert days[0] == months[0] == lo and days[-2] < lo + 400 * DAY_S <= days[-1], name
        assert set(months[:-1]) <= set(days), name
        lengths = {b - a for a, b in itertools.pairwise(days)}
        assert lengths <= {DAY_S + change for change in (0, 1800, -1800, 3600, -3600)}, name
        for start in days + months:
            local = datetime.fromtimestamp(start, tz)
            assert (local.hour, local.minute) == (0, 0), (name, local)
        assert {datetime.fromtimestamp(m, tz).day for m in months} == {1}, name
        assert [month_floor(m + 7 * DAY_S, tz) for m in months] == months, name


def test_nothing_is_read_from_rollups_past_the_agents_mark() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    mark = int(start.timestamp()) + 3 * SLOT_S
    split = split_period(start, start + timedelta(days=1), mark)
    assert split.ranges == ((SLOT_S, int(start.timestamp()), mark),)
    assert split_period(start, start + timedelta(days=2), mark + DAY_S, days=UTC_ZONE).ranges[
        0
    ] == (
        DAY_S,
        int(start.timestamp()),
        int(start.timestamp()) + DAY_S,
    )
    assert split.raw == ((datetime.fromtimestamp(mark, UTC), start + timedelta(days=1)),)
    assert split_period(start, start + timedelta(days=1), mark - 4 * SLOT_S).raw == (
        (start, start + timedelta(days=1)),
    )


@pytest.mark.parametrize("trace", sorted(TRACES.glob("*.ami"))[:12], ids=lambda p: p.stem)
def test_an_agents_slots_add_up_to_their_time(trace: Path) -> None:
    """Recorded agents' states, cut into slots, give the time :func:`agent_time` gives."""
    by_agent: dict[str, list[StateRow]] = {}
    for row in read_trace(trace).states:
        by_agent.setdefault(row["interface"], []).append(
            StateRow(row["interface"], row["state"], row["at"], row["paused_reason"])
        )
    for rows in by_agent.values():
        lo = int(rows[0].at.timestamp()) // SLOT_S * SLOT_S
        hi = (int(rows[-1].at.timestamp()) // SLOT_S + 3) * SLOT_S
        slots = state_slot_seconds(rows, lo, hi)
        assert all(lo <= slot < hi and slot % SLOT_S == 0 for slot, _, _ in slots)
        assert all(0 < v <= SLOT_S for v in slots.values())
        expected = agent_time(
            rows, datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
        )
        on_call = sum(v for (_, state, _), v in slots.items() if state == "on_call")
        logged_in = sum(slots.values())
        assert on_call == pytest.approx(expected.on_call_s, abs=1e-3)
        assert logged_in == pytest.approx(expected.logged_in_s, abs=1e-3)
