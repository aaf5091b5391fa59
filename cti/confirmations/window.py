"""A shop's calling window (e.g. 09:00-21:00 Asia/Shanghai): may we call now, else when."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def next_opening(now: datetime, start: str, end: str, timezone: str) -> datetime | None:
    """None when ``now`` is inside the window; else the next moment it opens (aware).

    A window whose end is not after its start runs over midnight (21:00-09:00).
    """
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    opens, closes = parse_hhmm(start), parse_hhmm(end)
    at = local.time()
    inside = opens <= at < closes if opens < closes else at >= opens or at < closes
    if inside:
        return None
    day = local.date()
    candidate = datetime.combine(day, opens, zone)
    if candidate <= local:
        candidate = datetime.combine(day + timedelta(days=1), opens, zone)
    return candidate
