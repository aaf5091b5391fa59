"""Opening hours: weekly schedules written as short lines, parsed once at start.

``"mon-fri 09:00-18:00"``, ``"sat 10:00-12:00,13:00-16:00"``, ``"mon-sun 00:00-24:00"``.
A range ends at or before midnight (``24:00``); a day missing from every line is
closed. Times are wall-clock times in the hotline's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: int
    """Minutes after midnight, inclusive."""
    end: int
    """Minutes after midnight, exclusive (1440 is midnight at the end of the day)."""

    def contains(self, at: time) -> bool:
        minute = at.hour * 60 + at.minute
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


Ranges = tuple[TimeRange, ...]
WeeklySchedule = tuple[Ranges, Ranges, Ranges, Ranges, Ranges, Ranges, Ranges]
"""Opening ranges per weekday, Monday first (``date.weekday()``)."""


def parse_range(text: str) -> TimeRange:
    m = _RANGE.match(text.strip())
    if not m:
        raise ValueError(f"bad time range {text!r}: use HH:MM-HH:MM, e.g. 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"bad time range {text!r}: no such time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(
            f"bad time range {text!r}: must end after it starts, on the same day "
            "(split a range that passes midnight into two days)"
        )
    return TimeRange(start, end)


def parse_ranges(texts: Iterable[str]) -> Ranges:
    ranges: list[TimeRange] = []
    for text in texts:
        ranges.extend(parse_range(part) for part in text.split(",") if part.strip())
    return tuple(sorted(ranges, key=lambda r: r.start))


def _parse_days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.lower().split(","):
        first, sep, last = part.strip().partition("-")
        if first not in DAYS or (sep and last not in DAYS):
            raise ValueError(f"bad days {spec!r}: use mon..sun, e.g. mon-fri or sat,sun")
        a = DAYS.index(first)
        b = DAYS.index(last) if sep else a
        if b < a:
            raise ValueError(f"bad days {spec!r}: write a week range Monday first")
        days.extend(range(a, b + 1))
    return days


def parse_schedule(lines: Iterable[str]) -> WeeklySchedule:
    week: list[list[TimeRange]] = [[] for _ in DAYS]
    for line in lines:
        spec, _, ranges = line.strip().partition(" ")
        if not ranges.strip():
            raise ValueError(f"bad hours {line!r}: use e.g. 'mon-fri 09:00-18:00'")
        parsed = parse_ranges([ranges.replace(" ", "")])
        for day in _parse_days(spec):
            week[day].extend(parsed)
    return (
        tuple(sorted(week[0], key=lambda r: r.start)),
        tuple(sorted(week[1], key=lambda r: r.start)),
        tuple(sorted(week[2], key=lambda r: r.start)),
        tuple(sorted(week[3], key=lambda r: r.start)),
        tuple(sorted(week[4], key=lambda r: r.start)),
        tuple(sorted(week[5], key=lambda r: r.start)),
        tuple(sorted(week[6], key=lambda r: r.start)),
    )


def is_open(ranges: Ranges, at: time) -> bool:
    return any(r.contains(at) for r in ranges)
