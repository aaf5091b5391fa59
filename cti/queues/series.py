"""Pure: waiting callers per queue, one sample a minute, for the current business day.

Kept in memory only (a restart starts the chart again): the history of waits
belongs to the call records. A day is a calendar day in the business time zone;
the first sample of a new day drops the old one. A minute sampled twice keeps
the later value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["SeriesPoint", "WaitingSeries"]

MINUTES_A_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    at: datetime
    """The start of the minute, in the business time zone."""
    waiting: int


class WaitingSeries:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._day: date | None = None
        self._points: dict[str, dict[int, int]] = {}

    def record(self, at: datetime, waiting: dict[str, int]) -> bool:
        """Sample ``waiting`` (queue -> callers) at ``at``; True if it opened a new minute."""
        local = at.astimezone(self.tz)
        if local.date() != self._day:
            self._day, self._points = local.date(), {}
        minute = local.hour * 60 + local.minute
        fresh = False
        for queue, count in waiting.items():
            points = self._points.setdefault(queue, {})
            fresh = fresh or minute not in points
            points[minute] = count
        return fresh

    def day(self) -> date | None:
        return self._day

    def points(self, queue: str) -> list[SeriesPoint]:
        if self._day is None:
            return []
        midnight = datetime.combine(self._day, datetime.min.time(), self.tz)
        # Aware arithmetic within one tzinfo is wall-clock arithmetic: minute m of the day.
        return [
            SeriesPoint(midnight + timedelta(minutes=m), n)
            for m, n in sorted(self._points.get(queue, {}).items())
        ]
