"""Statistics read from the rollups (:mod:`cti.stats.rollups`): each function gives what
its raw counterpart in :mod:`cti.stats.queries` gives, reading whole months, days and
slots from the sums and only the unaligned edges (and agents' current states) raw."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, String, bindparam, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from cti.calls.service import utc
from cti.db.batch import chunks, is_sqlite
from cti.stats.definitions import (
    SLOT_S,
    AgentCallSums,
    AgentTime,
    Interval,
    PeriodSplit,
    Rules,
    Sums,
    add_state_time,
    offset_segments,
    split_period,
)
from cti.stats.models import AgentCallSlot, AgentTimeMark, AgentTimeSlot, QueueAgent, QueueSlot
from cti.stats.queries import (
    SUMS_FIELDS,
    Window,
    add_bucket,
    agent_call_sums,
    agent_state_windows,
    interval_sums,
    sums_from_row,
)

__all__ = ["agent_call_totals", "agent_state_totals", "period_sums", "queue_agents"]


def _aligned(tz: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether the zone's buckets are unions of UTC slots over the period: every offset
    a whole number of slots and every change on a slot boundary (true of today's zones)."""
    segments = offset_segments(start, end, tz)
    return all(offset % SLOT_S == 0 for _, _, offset in segments) and all(
        seg_start.timestamp() % SLOT_S == 0 for seg_start, _, _ in segments[1:]
    )


async def period_sums(
    session: AsyncSession,
    *,
    queue: str,
    start: datetime,
    end: datetime,
    interval: Interval,
    tz: ZoneInfo,
    rules: Rules,
) -> dict[int, Sums]:
    """:func:`~cti.stats.queries.interval_sums`, from the slots where it can."""
    split = split_period(start, end)
    if not split.ranges or not _aligned(tz, start, end):
        split = PeriodSplit(raw=((start, end),))
    out: dict[int, Sums] = {}
    for _, lo, hi in split.ranges:
        for seg_start, seg_end, offset in offset_segments(utc(lo), utc(hi), tz):
            key = ((QueueSlot.slot + offset) // interval.seconds).label("bucket")
            stmt = (
                select(key, *(getattr(QueueSlot, name) for name in SUMS_FIELDS))
                .where(
                    QueueSlot.queue == queue,
                    QueueSlot.slot >= int(seg_start.timestamp()),
                    QueueSlot.slot < int(seg_end.timestamp()),
                )
                .subquery()
            )
            summed = select(
                stmt.c.bucket,
                *(
                    func.max(stmt.c[name]) if name == "longest_wait_s" else func.sum(stmt.c[name])
                    for name in SUMS_FIELDS
                ),
            ).group_by(stmt.c.bucket)
            for row in await session.execute(summed):
                add_bucket(out, int(row[0]), sums_from_row(row[1:]))
    for lo_at, hi_at in split.raw:
        raw = await interval_sums(
            session, queue=queue, start=lo_at, end=hi_at, interval=interval, tz=tz, rules=rules
        )
        for bucket, part in raw.items():
            add_bucket(out, bucket, part)
    return out


async def agent_call_totals(
    session: AsyncSession, *, queue: str, start: datetime, end: datetime, days: ZoneInfo
) -> dict[str, AgentCallSums]:
    """:func:`~cti.stats.queries.agent_call_sums`, from the slots and the business days
    (of ``days``, the zone the rollups keep) where it can."""
    split = split_period(start, end, days=days)
    out: dict[str, AgentCallSums] = defaultdict(AgentCallSums)
    S = AgentCallSlot
    for width, lo, hi in split.ranges:
        rows = await session.execute(
            select(
                S.agent,
                func.sum(S.calls),
                func.sum(S.talk_s),
                func.sum(S.wrapup_s),
                func.sum(S.rating_sum),
                func.sum(S.rated),
                func.sum(S.ring_no_answer),
            )
            .where(S.queue == queue, S.width == width, S.slot >= lo, S.slot < hi)
            .group_by(S.agent)
        )
        for agent, calls, talk, wrapup, rating_sum, rated, rings in rows:
            _add_agent_calls(
                out[str(agent)],
                AgentCallSums(
                    calls=int(calls),
                    talk_s=float(talk),
                    wrapup_s=float(wrapup),
                    rating_sum=int(rating_sum),
                    rated=int(rated),
                    ring_no_answer=int(rings),
                ),
            )
    for lo_at, hi_at in split.raw:
        for agent, part in (
            await agent_call_sums(session, queue=queue, start=lo_at, end=hi_at)
        ).items():
            _add_agent_calls(out[agent], part)
    # Agents who did nothing in the period are left out, as from the raw rows.
    return {a: s for a, s in out.items() if s.calls or s.rated or s.ring_no_answer}


async def queue_agents(session: AsyncSession, *, queue: str, end: datetime) -> list[str]:
    """:func:`~cti.stats.queries.queue_members` from the queue's noted agents."""
    rows = await session.scalars(
        select(QueueAgent.interface).where(QueueAgent.queue == queue, QueueAgent.first_at < end)
    )
    return [str(name) for name in rows]


def _add_agent_calls(into: AgentCallSums, part: AgentCallSums) -> None:
    into.calls += part.calls
    into.talk_s += part.talk_s
    into.wrapup_s += part.wrapup_s
    into.rating_sum += part.rating_sum
    into.rated += part.rated
    into.ring_no_answer += part.ring_no_answer


async def agent_state_totals(
    session: AsyncSession,
    *,
    names: Sequence[str],
    start: datetime,
    until: datetime,
    days: ZoneInfo | None,
) -> dict[str, AgentTime]:
    """:func:`~cti.stats.queries.agent_state_time`, from the slots and the business days
    (of ``days``, the zone the rollups keep; None: slots only) each agent's mark allows,
    the rest (edges, current state) from the raw rows."""
    out = {name: AgentTime() for name in names}
    if not out or until <= start:
        return out
    marks: dict[str, int] = {}
    for part in chunks(list(out), 900):
        found = await session.execute(
            select(AgentTimeMark.interface, AgentTimeMark.covered_until).where(
                AgentTimeMark.interface.in_(list(part))
            )
        )
        marks.update({str(name): int(covered) for name, covered in found})
    ranges: list[tuple[str, int, int, int]] = []
    windows: list[Window] = []
    for name in out:
        covered = marks.get(name)
        split = (
            PeriodSplit(raw=((start, until),))
            if covered is None
            else split_period(start, until, covered, days=days)
        )
        ranges += [(name, *r) for r in split.ranges]
        windows += [(name, lo_at, hi_at) for lo_at, hi_at in split.raw]
    # Every agent's ranges in one statement (their marks differ: those active now).
    for name, state, reason, seconds in await _time_in_ranges(session, ranges):
        add_state_time(out[str(name)], state, reason, float(seconds))
    for name, time in (await agent_state_windows(session, windows)).items():
        _add_agent_time(out[name], time)
    return out


async def _time_in_ranges(
    session: AsyncSession, ranges: Sequence[tuple[str, int, int, int]]
) -> list[Any]:
    """(interface, state, reason, seconds) summed over each agent's ``(interface, width,
    from, to)`` ranges of :class:`AgentTimeSlot` rows."""
    S = AgentTimeSlot
    if not ranges:
        return []
    if not is_sqlite(session):
        # One index range scan per agent and range (LATERAL): a plain join of the ranges
        # hashed the whole table (1.6 M rows for 1M calls, a quarter of a second).
        wanted = (
            func.unnest(
                bindparam("interfaces", [r[0] for r in ranges], type_=ARRAY(String)),
                bindparam("widths", [r[1] for r in ranges], type_=ARRAY(Integer)),
                bindparam("los", [r[2] for r in ranges], type_=ARRAY(BigInteger)),
                bindparam("his", [r[3] for r in ranges], type_=ARRAY(BigInteger)),
            )
            .table_valued("interface", "width", "lo", "hi")
            .render_derived(name="wanted")
        )
        # Summed within each range: the outer sum then adds a few rows per agent (summing
        # the 50 k day rows of a month outside sorted them on disk, 90 ms).
        found = (
            select(S.state, S.paused_reason, func.sum(S.seconds).label("seconds"))
            .where(
                S.interface == wanted.c.interface,
                S.width == wanted.c.width,
                S.slot >= wanted.c.lo,
                S.slot < wanted.c.hi,
            )
            .group_by(S.state, S.paused_reason)
            .lateral("found")
        )
        rows = await session.execute(
            select(
                wanted.c.interface,
                found.c.state,
                found.c.paused_reason,
                func.sum(found.c.seconds),
            )
            .select_from(wanted)
            .join(found, true())
            .group_by(wanted.c.interface, found.c.state, found.c.paused_reason)
        )
        return list(rows)
    # SQLite (no LATERAL, no column list for VALUES): one statement per distinct range,
    # for every agent that has it (usually all but those active now).
    by_range: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for name, width, lo, hi in ranges:
        by_range[(width, lo, hi)].append(name)
    out: list[Any] = []
    for (width, lo, hi), names in by_range.items():
        for part in chunks(names, 900):
            rows = await session.execute(
                select(S.interface, S.state, S.paused_reason, func.sum(S.seconds))
                .where(
                    S.interface.in_(list(part)),
                    S.width == width,
                    S.slot >= lo,
                    S.slot < hi,
                )
                .group_by(S.interface, S.state, S.paused_reason)
            )
            out += list(rows)
    return out


def _add_agent_time(into: AgentTime, part: AgentTime) -> None:
    into.logged_in_s += part.logged_in_s
    into.paused_s += part.paused_s
    for reason, seconds in part.pause_by_reason.items():
        into.pause_by_reason[reason] = into.pause_by_reason.get(reason, 0.0) + seconds
    into.on_call_s += part.on_call_s
    into.wrap_up_s += part.wrap_up_s
    into.ringing_s += part.ringing_s
    into.available_s += part.available_s
