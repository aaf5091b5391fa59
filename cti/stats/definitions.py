"""Every queue figure, defined once: interval buckets, sums, and the figures made of them.

Pure: values in, values out. The database answers with :class:`Sums` per bucket
(:mod:`cti.stats.queries`, one ``GROUP BY``); :func:`sums_of` is the same
aggregation over plain rows, the reference the SQL is tested against and what the
live "today so far" figures can use on calls held in memory. Every figure is then
made from the sums by :func:`figures`, so history, live figures and CSV cannot
disagree. README ("Queue statistics") has the table of definitions.

A call counts in the interval it was **offered** in (``offered_at``: queue_log's
ENTERQUEUE, or the preferred agent's ring, see :mod:`cti.calls.facts`), in the
business time zone. Outbound calls are never queue traffic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from cti.calls.facts import stats_facts
from cti.tracking.events import CallSummary

__all__ = [
    "DAY_S",
    "MONTH_W",
    "SLOT_S",
    "AgentCallSums",
    "AgentFigures",
    "AgentTime",
    "CallRow",
    "Interval",
    "IntervalFigures",
    "PeriodSplit",
    "Rules",
    "StateRow",
    "Sums",
    "add_state_time",
    "agent_time",
    "bucket_key",
    "bucket_start",
    "buckets",
    "call_row",
    "day_ceil",
    "day_floor",
    "day_starts",
    "figures",
    "month_ceil",
    "month_floor",
    "month_starts",
    "next_day",
    "next_month",
    "offset_segments",
    "period_figures",
    "slot_ceil",
    "slot_floor",
    "split_period",
    "state_slot_seconds",
    "sums_of",
]

_EPOCH = datetime(1970, 1, 1)


class Interval(StrEnum):
    MIN15 = "15m"
    HOUR = "1h"
    DAY = "1d"

    @property
    def seconds(self) -> int:
        return {"15m": 900, "1h": 3600, "1d": 86400}[self.value]


@dataclass(frozen=True, slots=True)
class Rules:
    """What the stored sums depend on: the two thresholds (``CTI_STATS_*``) and the
    business time zone whose days the rollups keep (``CTI_TIMEZONE``)."""

    sl_threshold_s: float = 20.0
    """Service level: answered within this many seconds of being offered (inclusive)."""
    short_abandon_s: float = 5.0
    """A caller gone within this many seconds is a short abandon (inclusive)."""
    timezone: str = "Asia/Shanghai"


# -- buckets -------------------------------------------------------------------------------


def bucket_key(at: datetime, interval: Interval, tz: ZoneInfo) -> int:
    """The interval ``at`` falls in: whole intervals of local wall time since 1970-01-01.

    The local time is ``at`` plus the zone's offset at that instant, so a DST change
    splits no bucket wrongly; the database computes the same number from the epoch
    and the offset (:func:`offset_segments`).
    """
    local = math.floor(at.timestamp()) + utc_offset(at, tz)
    return local // interval.seconds


def utc_offset(at: datetime, tz: ZoneInfo) -> int:
    """Seconds the zone's wall clock is ahead of UTC at the instant ``at``."""
    off = at.astimezone(tz).utcoffset()
    return 0 if off is None else int(off.total_seconds())


def bucket_start(key: int, interval: Interval, tz: ZoneInfo) -> datetime:
    """The instant (UTC) the bucket ``key`` starts: its local wall time in ``tz``."""
    local = _EPOCH + timedelta(seconds=key * interval.seconds)
    return local.replace(tzinfo=tz).astimezone(UTC)


def buckets(start: datetime, end: datetime, interval: Interval, tz: ZoneInfo) -> list[int]:
    """Every bucket overlapping ``[start, end)``, in order."""
    if end <= start:
        return []
    first = bucket_key(start, interval, tz)
    last = bucket_key(end - timedelta(microseconds=1), interval, tz)
    return list(range(first, last + 1))


def offset_segments(
    start: datetime, end: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime, int]]:
    """``[start, end)`` cut where the zone's UTC offset changes: (from, to, offset seconds).

    Within a segment a bucket is ``(epoch + offset) // width``, which SQL computes
    without time zone support (SQLite has none).
    """

    def offset(at: datetime) -> int:
        return utc_offset(at, tz)

    out: list[tuple[datetime, datetime, int]] = []
    seg_start, seg_off = start, offset(start)
    # Probes this far apart see every change: no zone changes its offset twice within
    # six hours (they are months apart). A month is 120 probes, not thousands.
    step = timedelta(hours=6)
    probe = start
    while probe < end:
        nxt = min(probe + step, end)
        if offset(nxt) != seg_off and nxt < end:
            lo, hi = probe, nxt  # the change lies in (lo, hi]: find it to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == seg_off:
                    lo = mid
                else:
                    hi = mid
            out.append((seg_start, hi, seg_off))
            seg_start, seg_off = hi, offset(hi)
        probe = nxt
    out.append((seg_start, end, seg_off))
    return out


# -- calls -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRow:
    """The columns of a call record the figures read."""

    offered_at: datetime | None
    answered_at: datetime | None
    outcome: str
    wait_s: float | None
    talk_s: float | None = None
    wrapup_s: float | None = None
    transfers: int = 0
    voicemail: bool = False
    started_at: datetime | None = None
    agent: str | None = None
    direction: str = "inbound"
    rating: int | None = None
    """The caller's rating after the call (1..5), if they gave one."""

    @property
    def counted_at(self) -> datetime | None:
        """When the call counts: offered, or (never offered) when it reached voicemail."""
        if self.direction != "inbound":
            return None
        if self.offered_at is not None:
            return self.offered_at
        return self.started_at if self.voicemail else None


def call_row(summary: CallSummary, wrapup_s: float | None = None) -> tuple[str | None, CallRow]:
    """A finished call (not stored yet, e.g. today's in memory) as the figures read it,
    with the queue it counts in. ``wrapup_s``: the agent's wrap-up, for queue answers."""
    f = stats_facts(summary)

    def at(ts: float | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    return f.queue, CallRow(
        offered_at=at(f.offered_at),
        answered_at=at(f.answered_at),
        outcome=summary.outcome.value,
        wait_s=f.wait_s,
        talk_s=summary.talk_s,
        wrapup_s=wrapup_s if f.answered_in_queue else None,
        transfers=f.transfers,
        voicemail=f.voicemail,
        started_at=at(summary.started_at),
        agent=summary.agent,
        direction=summary.direction,
    )


@dataclass(slots=True)
class Sums:
    """Additive totals of one bucket; every figure is made of these (:func:`figures`)."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    timeouts: int = 0
    voicemails: int = 0
    transfers: int = 0
    answered_within: int = 0
    """Answered with ``wait_s <= sl_threshold_s``."""
    wait_answered_s: float = 0.0
    """Sum of the waits of answered calls (ASA's numerator)."""
    talk_s: float = 0.0
    wrapup_s: float = 0.0
    longest_wait_s: float | None = None
    """Longest wait of any offered call, answered or not."""
    rating_sum: int = 0
    """Sum of the ratings of the offered calls the caller rated (CSAT's numerator)."""
    rated: int = 0

    def add(self, other: Sums) -> None:
        for name in _ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        theirs = other.longest_wait_s
        if theirs is not None and (self.longest_wait_s is None or theirs > self.longest_wait_s):
            self.longest_wait_s = theirs


# A month at 15 minutes is thousands of Sums added up: the field list is read once.
_ADDED = tuple(f.name for f in fields(Sums) if f.name != "longest_wait_s")


def add_call(s: Sums, row: CallRow, rules: Rules) -> None:
    """One call's part of its bucket's sums: the definitions, in code."""
    if row.voicemail:
        s.voicemails += 1
    if row.offered_at is None or row.direction != "inbound":
        return
    s.offered += 1
    if row.rating is not None:
        s.rating_sum += row.rating
        s.rated += 1
    wait = row.wait_s
    if wait is not None and (s.longest_wait_s is None or wait > s.longest_wait_s):
        s.longest_wait_s = wait
    if row.answered_at is not None:
        s.answered += 1
        s.transfers += row.transfers
        s.wait_answered_s += wait or 0.0
        s.talk_s += row.talk_s or 0.0
        s.wrapup_s += row.wrapup_s or 0.0
        if wait is not None and wait <= rules.sl_threshold_s:
            s.answered_within += 1
    elif row.outcome == "timeout":
        s.timeouts += 1
    else:
        # Offered, not answered, not sent away by the queue: the caller hung up
        # (including a caller gone while the preferred agent's phone rang).
        s.abandoned += 1
        if wait is not None and wait <= rules.short_abandon_s:
            s.short_abandons += 1


def sums_of(
    rows: Iterable[CallRow], interval: Interval, tz: ZoneInfo, rules: Rules
) -> dict[int, Sums]:
    """The reference aggregation: :class:`Sums` per bucket key (buckets with calls only)."""
    out: dict[int, Sums] = {}
    for row in rows:
        at = row.counted_at
        if at is None:
            continue
        add_call(out.setdefault(bucket_key(at, interval, tz), Sums()), row, rules)
    return out


def period_figures(
    rows: Iterable[CallRow], start: datetime, end: datetime, rules: Rules
) -> IntervalFigures:
    """The figures of the calls counted in ``[start, end)`` (e.g. today so far)."""
    s = Sums()
    for row in rows:
        at = row.counted_at
        if at is not None and start <= at < end:
            add_call(s, row, rules)
    return figures(s)


@dataclass(frozen=True, slots=True)
class IntervalFigures:
    offered: int
    answered: int
    abandoned: int
    short_abandons: int
    timeouts: int
    voicemails: int
    transfers: int
    answer_rate: float | None
    service_level_of_answered: float | None
    service_level_of_offered: float | None
    asa_s: float | None
    aht_s: float | None
    longest_wait_s: float | None
    csat: float | None = None
    """Customer satisfaction: the mean rating of the interval's rated calls (None: none)."""

    def to_json_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIGURES}


_FIGURES = tuple(f.name for f in fields(IntervalFigures))


def _ratio(num: float, den: float, digits: int = 4) -> float | None:
    return None if den <= 0 else round(num / den, digits)


def figures(s: Sums) -> IntervalFigures:
    """The figures of one bucket (or of a whole period: sums add up)."""
    return IntervalFigures(
        offered=s.offered,
        answered=s.answered,
        abandoned=s.abandoned,
        short_abandons=s.short_abandons,
        timeouts=s.timeouts,
        voicemails=s.voicemails,
        transfers=s.transfers,
        answer_rate=_ratio(s.answered, s.offered),
        service_level_of_answered=_ratio(s.answered_within, s.answered),
        service_level_of_offered=_ratio(s.answered_within, s.offered - s.short_abandons),
        asa_s=_ratio(s.wait_answered_s, s.answered, 1),
        aht_s=_ratio(s.talk_s + s.wrapup_s, s.answered, 1),
        longest_wait_s=None if s.longest_wait_s is None else round(s.longest_wait_s, 1),
        csat=_ratio(s.rating_sum, s.rated, 2),
    )


# -- agents ----------------------------------------------------------------------------------


@dataclass(slots=True)
class AgentCallSums:
    """An agent's part of the queue's calls in the period."""

    calls: int = 0
    """Offered calls of the queue this agent answered (the call's first answer)."""
    talk_s: float = 0.0
    wrapup_s: float = 0.0
    ring_no_answer: int = 0
    """Rings of the queue's calls the agent let go unanswered (queue and preferred-agent rings)."""
    rating_sum: int = 0
    """Ratings of the queue's calls with this agent that the caller rated."""
    rated: int = 0


@dataclass(frozen=True, slots=True)
class StateRow:
    """The agent entered ``state`` at ``at`` (an ``agent_states`` row)."""

    interface: str
    state: str
    at: datetime
    paused_reason: str = ""


@dataclass(slots=True)
class AgentTime:
    """Seconds an agent spent in each state within a period."""

    logged_in_s: float = 0.0
    paused_s: float = 0.0
    pause_by_reason: dict[str, float] = field(default_factory=dict)
    on_call_s: float = 0.0
    wrap_up_s: float = 0.0
    ringing_s: float = 0.0
    available_s: float = 0.0

    @property
    def occupancy(self) -> float | None:
        """Busy (on a call or in wrap-up) over staffed (logged in and not paused)."""
        return _ratio(self.on_call_s + self.wrap_up_s, self.logged_in_s - self.paused_s)


def agent_time(rows: Sequence[StateRow], start: datetime, end: datetime) -> AgentTime:
    """Time per state of one agent in ``[start, end)``.

    ``rows`` are the agent's state changes in time order, beginning with the last one
    before ``start`` if there is one (the state the period opens in); the last state
    lasts until ``end`` (the caller passes ``min(to, now)``).
    """
    out = AgentTime()
    # Rows of the same instant in the order the database gives them (queries.agent_state_time).
    ordered = sorted(rows, key=lambda r: (r.at, r.state, r.paused_reason))
    for i, row in enumerate(ordered):
        until = ordered[i + 1].at if i + 1 < len(ordered) else end
        lo, hi = max(row.at, start), min(until, end)
        add_state_time(out, row.state, row.paused_reason, (hi - lo).total_seconds())
    return out


def add_state_time(out: AgentTime, state: str, paused_reason: str, seconds: float) -> None:
    """``seconds`` an agent spent in ``state``: where each state's time goes."""
    if seconds <= 0 or state == "logged_out":
        return
    out.logged_in_s += seconds
    if state == "paused":
        out.paused_s += seconds
        reason = paused_reason or ""
        out.pause_by_reason[reason] = out.pause_by_reason.get(reason, 0.0) + seconds
    elif state == "on_call":
        out.on_call_s += seconds
    elif state == "wrap_up":
        out.wrap_up_s += seconds
    elif state == "ringing":
        out.ringing_s += seconds
    else:
        out.available_s += seconds


@dataclass(frozen=True, slots=True)
class AgentFigures:
    agent: str
    calls: int
    talk_s: float
    wrapup_s: float
    ring_no_answer: int
    logged_in_s: float
    paused_s: float
    pause_by_reason: Mapping[str, float]
    occupancy: float | None
    csat: float | None = None
    """The agent's customer satisfaction in the period: the mean of their rated calls."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "calls": self.calls,
            "talk_s": round(self.talk_s, 1),
            "wrapup_s": round(self.wrapup_s, 1),
            "ring_no_answer": self.ring_no_answer,
            "logged_in_s": round(self.logged_in_s, 1),
            "paused_s": round(self.paused_s, 1),
            "pause_by_reason": {k: round(v, 1) for k, v in sorted(self.pause_by_reason.items())},
            "occupancy": self.occupancy,
            "csat": self.csat,
        }


def agent_figures(agent: str, calls: AgentCallSums, time: AgentTime) -> AgentFigures:
    return AgentFigures(
        agent=agent,
        calls=calls.calls,
        talk_s=calls.talk_s,
        wrapup_s=calls.wrapup_s,
        ring_no_answer=calls.ring_no_answer,
        logged_in_s=time.logged_in_s,
        paused_s=time.paused_s,
        pause_by_reason=dict(time.pause_by_reason),
        occupancy=time.occupancy,
        csat=_ratio(calls.rating_sum, calls.rated, 2),
    )


# -- rollups ---------------------------------------------------------------------------------
# The database keeps the sums of every 15-minute slot and of every UTC day
# (cti.stats.rollups); a period is read as whole days and slots from those sums and its
# unaligned edges from the raw rows. These say which part is read from where.

SLOT_S = 900
DAY_S = 86400


def slot_floor(epoch: float, width: int = SLOT_S) -> int:
    """The start (epoch seconds) of the slot of ``width`` seconds ``epoch`` falls in."""
    return math.floor(epoch / width) * width


def slot_ceil(epoch: float, width: int = SLOT_S) -> int:
    return math.ceil(epoch / width) * width


MONTH_W = 31 * DAY_S
"""The ``width`` that tags month rows (a local month of the business time zone)."""


@dataclass(frozen=True, slots=True)
class PeriodSplit:
    """``[start, end)`` as the pieces it is read from, which together cover it once."""

    raw: tuple[tuple[datetime, datetime], ...] = ()
    """Read from the raw rows: the unaligned edges, and what the rollups do not hold yet."""
    ranges: tuple[tuple[int, int, int], ...] = ()
    """``(width, from, to)``: epoch ranges read from the rollup rows of that width
    (:data:`SLOT_S` slots, :data:`DAY_S` business days, :data:`MONTH_W` months)."""


def split_period(
    start: datetime,
    end: datetime,
    covered_until: int | None = None,
    *,
    days: ZoneInfo | None = None,
) -> PeriodSplit:
    """How to read ``[start, end)``: whole slots, and whole days and months of the zone
    ``days`` when given, from the rollups up to ``covered_until`` (slot-aligned; None: no
    limit); the rest from raw rows. The fewest rows: months in the middle, days around
    them, slots at the edges."""
    first = slot_ceil(start.timestamp())
    last = slot_floor(end.timestamp())
    if covered_until is not None:
        last = min(last, covered_until)
    if last <= first:
        return PeriodSplit(raw=((start, end),))
    raw = []
    lo, hi = _utc(first), _utc(last)
    if start < lo:
        raw.append((start, lo))
    if hi < end:
        raw.append((hi, end))
    ranges = [(SLOT_S, first, last)]
    if days is not None:
        day_lo, day_hi = day_ceil(first, days), day_floor(last, days)
        if day_lo < day_hi and day_lo % SLOT_S == 0 and day_hi % SLOT_S == 0:
            ranges = [(SLOT_S, first, day_lo), (DAY_S, day_lo, day_hi), (SLOT_S, day_hi, last)]
            month_lo, month_hi = month_ceil(day_lo, days), month_floor(day_hi, days)
            if month_lo < month_hi:
                ranges[1:2] = [
                    (DAY_S, day_lo, month_lo),
                    (MONTH_W, month_lo, month_hi),
                    (DAY_S, month_hi, day_hi),
                ]
    return PeriodSplit(raw=tuple(raw), ranges=tuple(r for r in ranges if r[1] < r[2]))


@dataclass(frozen=True, slots=True)
class CalendarUnit:
    """A unit of the business calendar, the local day or the local month of a zone: it
    starts at a local midnight, and its length in seconds varies (a day of 23 to 25 hours
    across a DST change, a month of 28 to 31 days)."""

    first_day: Callable[[datetime], tuple[int, int, int]]
    """``(year, month, day)`` of the unit's first day, given a local time within it."""
    past_longest_s: int
    """Seconds from a unit's start that land in the next unit: more than the longest
    unit, less than the shortest two."""

    def floor(self, epoch: float, tz: ZoneInfo) -> int:
        """The epoch second the unit of ``epoch`` starts (its first midnight in ``tz``)."""
        year, month, day = self.first_day(datetime.fromtimestamp(epoch, tz))
        return math.floor(datetime(year, month, day, tzinfo=tz).timestamp())

    def next(self, start: int, tz: ZoneInfo) -> int:
        """The start of the unit after the one starting at ``start``."""
        return self.floor(start + self.past_longest_s, tz)

    def ceil(self, epoch: float, tz: ZoneInfo) -> int:
        """``epoch`` if a unit starts there, else the start of the next unit."""
        start = self.floor(epoch, tz)
        return start if start >= epoch else self.next(start, tz)

    def starts(self, lo: int, hi: int, tz: ZoneInfo) -> list[int]:
        """The starts of the units overlapping ``[lo, hi)``, then the end of the last."""
        out = [self.floor(lo, tz)]
        while out[-1] < hi:
            out.append(self.next(out[-1], tz))
        return out


LOCAL_DAY = CalendarUnit(lambda local: (local.year, local.month, local.day), 26 * 3600)
"""The local day: 23 to 25 hours (a DST change), so 26 hours on is the next day."""
LOCAL_MONTH = CalendarUnit(lambda local: (local.year, local.month, 1), 32 * DAY_S)
"""The local month: 28 to 31 days, so 32 days on is the next month."""

day_floor = LOCAL_DAY.floor
next_day = LOCAL_DAY.next
day_ceil = LOCAL_DAY.ceil
day_starts = LOCAL_DAY.starts
month_floor = LOCAL_MONTH.floor
next_month = LOCAL_MONTH.next
month_ceil = LOCAL_MONTH.ceil
month_starts = LOCAL_MONTH.starts


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def state_slot_seconds(
    rows: Sequence[StateRow], lo: int, hi: int
) -> dict[tuple[int, str, str], float]:
    """Seconds of each (slot, state, pause reason) of one agent within ``[lo, hi)``.

    ``rows`` as for :func:`agent_time` (the state the range opens in first); the last
    row lasts until ``hi``. Logged-out time and empty spans are left out.
    """
    out: dict[tuple[int, str, str], float] = {}
    ordered = sorted(rows, key=lambda r: (r.at, r.state, r.paused_reason))
    for i, row in enumerate(ordered):
        if row.state == "logged_out":
            continue
        begin = max(row.at.timestamp(), lo)
        finish = min(ordered[i + 1].at.timestamp() if i + 1 < len(ordered) else hi, hi)
        while begin < finish:
            slot = slot_floor(begin)
            part_end = min(finish, slot + SLOT_S)
            key = (slot, row.state, row.paused_reason)
            out[key] = out.get(key, 0.0) + (part_end - begin)
            begin = part_end
    return out
