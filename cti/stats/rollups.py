"""Statistics rollups: sums per 15-minute slot, business day and month, kept as rows are written.

A month of a busy queue is hundreds of thousands of calls and millions of agent state
rows; summing them per request cannot answer in tens of milliseconds. So the sums are
kept (:mod:`cti.stats.models`: ``stats_queue_slots``, ``stats_agent_call_slots``,
``stats_agent_time_slots``) and a period is read as whole months, days and slots from
them and its unaligned edges from the raw rows
(:func:`~cti.stats.definitions.split_period`). Days and months are those of the
business time zone (``CTI_TIMEZONE``), so a month of figures is one row per agent.

**Kept exact.** A slot's sums are never adjusted by increments: every transaction that
writes calls, ratings or agent states *recomputes* the slots it touched from the raw rows
(:func:`calls_written`, :func:`rating_written`, :func:`states_written`), with the same
SQL the raw statistics use, so a slot equals its raw rows by construction, whatever the
order rows arrive in (a trace replayed twice, a rating before its call). On PostgreSQL
those transactions take one advisory lock before recomputing, so two writers cannot
each sum the slot without the other's rows.

**An agent's current state has no end yet**: agent time is summed only up to the slot
of the agent's latest state row (``stats_agent_time_marks``); the rest is read raw. After
a logout nothing accrues, so a logged-out agent is summed to the end of time.

**Rules.** Service level and short abandons depend on ``CTI_STATS_*`` thresholds: the
queue slots hold the figures of the thresholds in ``stats_rollups``, and
:func:`ensure_built` (at start) rebuilds everything when the thresholds or the time zone
differ or the rollups were never built (a new migration, rows loaded by hand). Until then
:func:`usable` says no and the statistics read the raw rows.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.facts import stats_facts
from cti.calls.models import CallRecord
from cti.calls.writer import BatchHook
from cti.db.batch import chunks, dialect_insert
from cti.stats.definitions import (
    DAY_S,
    MONTH_W,
    SLOT_S,
    Rules,
    StateRow,
    day_starts,
    month_starts,
    slot_floor,
    state_slot_seconds,
)
from cti.stats.models import (
    AgentCallSlot,
    AgentStateRecord,
    AgentTimeMark,
    AgentTimeSlot,
    QueueAgent,
    QueueSlot,
    RollupState,
)
from cti.stats.queries import (
    SUMS_FIELDS,
    agent_call_selects,
    calls_with_ratings,
    counted_epoch,
    offered_epoch,
    sums_columns,
)
from cti.tracking.events import CallSummary

__all__ = [
    "calls_hook",
    "calls_written",
    "ensure_built",
    "rating_written",
    "rebuild",
    "states_written",
    "usable",
]

log = logging.getLogger(__name__)

_LOCK_KEY = 0x43544953  # "CTIS": one PostgreSQL advisory lock for every rollup writer
_END_OF_TIME = 2**37  # an epoch second past any call (year 6325)


def _sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def _lock(session: AsyncSession) -> None:
    """Serialize rollup writers until the transaction ends (SQLite has one writer anyway).

    Taken before the recomputing statements, so each of them sees every row committed by
    a writer that held the lock before.
    """
    if not _sqlite(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


# -- state -----------------------------------------------------------------------------------


async def usable(session: AsyncSession, rules: Rules) -> bool:
    """True when the rollups hold every stored call, summed with ``rules``."""
    row = (
        await session.execute(
            select(
                RollupState.sl_threshold_s, RollupState.short_abandon_s, RollupState.timezone
            ).where(RollupState.id == 1)
        )
    ).first()
    return row is not None and tuple(row) == (
        rules.sl_threshold_s,
        rules.short_abandon_s,
        rules.timezone,
    )


async def ensure_built(sessions: async_sessionmaker[AsyncSession], rules: Rules) -> bool:
    """Build the rollups if they are missing or summed with other thresholds; True if built."""
    async with sessions() as session, session.begin():
        if await usable(session, rules):
            return False
        await _lock(session)
        if await usable(session, rules):  # another service built them meanwhile
            return False
        started = datetime.now(UTC)
        await rebuild(session, rules)
        log.info(
            "statistics rollups built in %.1f s (service level within %s s, short abandon %s s)",
            (datetime.now(UTC) - started).total_seconds(),
            rules.sl_threshold_s,
            rules.short_abandon_s,
        )
        return True


async def rebuild(session: AsyncSession, rules: Rules) -> None:
    """Every rollup from the raw rows, then mark them usable with ``rules``."""
    await _lock(session)
    for table in (QueueSlot, AgentCallSlot, AgentTimeSlot, AgentTimeMark, QueueAgent, RollupState):
        await session.execute(delete(table))
    R = AgentStateRecord
    await session.execute(
        insert(QueueAgent).from_select(
            ["queue", "interface", "first_at"],
            select(R.queue, R.interface, func.min(R.at))
            .where(R.queue.is_not(None))
            .group_by(R.queue, R.interface),
        )
    )
    queues = await session.scalars(
        select(CallRecord.queue).where(CallRecord.queue.is_not(None)).distinct()
    )
    for queue in list(queues):
        await _recompute_calls(session, str(queue), 0, _END_OF_TIME, rules)
    interfaces = await session.scalars(select(AgentStateRecord.interface).distinct())
    for interface in list(interfaces):
        await _recompute_agent_time(session, str(interface), None, ZoneInfo(rules.timezone))
    await session.execute(
        insert(RollupState).values(
            id=1,
            sl_threshold_s=rules.sl_threshold_s,
            short_abandon_s=rules.short_abandon_s,
            timezone=rules.timezone,
            built_at=datetime.now(UTC),
        )
    )


# -- keeping them: calls and ratings ----------------------------------------------------------


CallKey = tuple[str | None, datetime | None]
"""A written call's queue and the instant it counts at (offered, else started)."""


async def calls_written(session: AsyncSession, keys: Iterable[CallKey], rules: Rules) -> None:
    """Recompute the slots (and days) of the calls just written in this transaction."""
    touched: dict[str, set[int]] = defaultdict(set)
    for queue, at in keys:
        if queue is not None and at is not None:
            touched[queue].add(slot_floor(at.timestamp()))
    if not touched:
        return
    await session.flush()
    await _lock(session)
    for queue, slots in sorted(touched.items()):
        for lo, hi in _runs(sorted(slots)):
            await _recompute_calls(session, queue, lo, hi, rules)


async def rating_written(session: AsyncSession, linkedid: str, rules: Rules) -> None:
    """Recompute the slots of the call a rating was just written for (if it is stored)."""
    await session.flush()
    rows = await session.execute(
        select(CallRecord.queue, CallRecord.offered_at, CallRecord.started_at).where(
            CallRecord.linkedid == linkedid
        )
    )
    await calls_written(
        session, [(queue, offered or started) for queue, offered, started in rows], rules
    )


def _runs(slots: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted slot starts as ``[from, to)`` runs of adjacent slots."""
    out: list[tuple[int, int]] = []
    for slot in slots:
        if out and out[-1][1] == slot:
            out[-1] = (out[-1][0], slot + SLOT_S)
        else:
            out.append((slot, slot + SLOT_S))
    return out


async def _recompute_calls(
    session: AsyncSession, queue: str, lo: int, hi: int, rules: Rules
) -> None:
    """``queue``'s slots in ``[lo, hi)`` from its calls, and the days they fall in."""
    start, end = _utc(lo), _utc(hi)
    await session.execute(
        delete(QueueSlot).where(QueueSlot.queue == queue, QueueSlot.slot >= lo, QueueSlot.slot < hi)
    )
    key = _slot_of(counted_epoch(session))
    sums = calls_with_ratings(
        select(literal(queue), key, *sums_columns(rules)), queue, start, end
    ).group_by(key)
    await session.execute(
        dialect_insert(session, QueueSlot.__table__).from_select(
            ["queue", "slot", *SUMS_FIELDS], sums
        )
    )
    await session.execute(
        delete(AgentCallSlot).where(
            AgentCallSlot.queue == queue,
            AgentCallSlot.width == SLOT_S,
            AgentCallSlot.slot >= lo,
            AgentCallSlot.slot < hi,
        )
    )
    key = _slot_of(offered_epoch(session))
    taken, missed = agent_call_selects(queue, start, end, key)
    fixed: list[Any] = [literal(queue), literal(SLOT_S, Integer)]
    insert = dialect_insert(session, AgentCallSlot.__table__)
    await session.execute(
        insert.from_select(
            _AGENT_CALL_COLUMNS,
            taken.with_only_columns(*fixed, *taken.selected_columns, literal(0)),
        )
    )
    rings = insert.from_select(
        [*_AGENT_CALL_COLUMNS[:4], "ring_no_answer", *_AGENT_CALL_COLUMNS[4:9]],
        missed.with_only_columns(
            *fixed,
            *missed.selected_columns,
            literal(0),
            literal(0.0),
            literal(0.0),
            literal(0),
            literal(0),
        ),
    )
    await session.execute(
        rings.on_conflict_do_update(
            index_elements=["queue", "width", "slot", "agent"],
            set_={"ring_no_answer": rings.excluded.ring_no_answer},
        )
    )
    await _sum_agent_call_days(session, queue, lo, hi, ZoneInfo(rules.timezone))


_AGENT_CALL_COLUMNS = [
    "queue", "width", "slot", "agent", "calls", "talk_s", "wrapup_s", "rating_sum", "rated",
    "ring_no_answer",
]  # fmt: skip


def _slot_of(epoch: Any, width: int = SLOT_S) -> Any:
    return (epoch // width) * width


async def _sum_agent_call_days(
    session: AsyncSession, queue: str, lo: int, hi: int, tz: ZoneInfo
) -> None:
    """``queue``'s day and month rows of every business day and month ``[lo, hi)``
    touches, from its slots and days."""
    S = AgentCallSlot
    first_slot, last_slot = (
        await session.execute(
            select(func.min(S.slot), func.max(S.slot)).where(
                S.queue == queue, S.width == SLOT_S, S.slot >= lo, S.slot < hi
            )
        )
    ).one()
    if first_slot is None:
        return
    days = day_starts(int(first_slot), int(last_slot) + SLOT_S, tz)
    sums = _Sums(S, [S.queue == queue], {"queue": queue}, ["agent"], _AGENT_CALL_COLUMNS[4:])
    await sums.delete(session, DAY_S, days[0], days[-1])
    await sums.sum_into(session, SLOT_S, DAY_S, days)
    months = month_starts(days[0], days[-1], tz)
    await sums.delete(session, MONTH_W, months[0], months[-1])
    await sums.sum_into(session, DAY_S, MONTH_W, months)


@dataclass(frozen=True)
class _Sums:
    """Rows of one rollup table for one key (a queue, an agent), summed up a level."""

    model: Any
    where: list[Any]
    fixed: dict[str, Any]
    keys: list[str]
    """Columns that tell the rows of one period apart (agent; state and reason)."""
    values: list[str]
    """Columns summed."""

    async def delete(self, session: AsyncSession, width: int, lo: int, hi: int) -> None:
        M = self.model
        await session.execute(
            delete(M).where(*self.where, M.width == width, M.slot >= lo, M.slot < hi)
        )

    async def sum_into(
        self, session: AsyncSession, below: int, width: int, bounds: Sequence[int]
    ) -> None:
        """Rows of ``width`` for the periods ``[bounds[i], bounds[i + 1])``: the sums of
        the rows of width ``below`` in each (deleted first by the caller)."""
        if len(bounds) < 2:
            return
        M = self.model
        rows = await session.execute(
            select(M.slot, *(getattr(M, c) for c in (*self.keys, *self.values))).where(
                *self.where, M.width == below, M.slot >= bounds[0], M.slot < bounds[-1]
            )
        )
        n = len(self.keys)
        sums: dict[tuple[Any, ...], list[Any]] = {}
        for slot, *rest in rows:
            key = (bounds[bisect.bisect_right(bounds, slot) - 1], *rest[:n])
            into = sums.get(key)
            if into is None:
                sums[key] = list(rest[n:])
            else:
                for i, value in enumerate(rest[n:]):
                    into[i] += value
        out = [
            {
                **self.fixed,
                "width": width,
                "slot": key[0],
                **dict(zip(self.keys, key[1:], strict=True)),
                **dict(zip(self.values, values_, strict=True)),
            }
            for key, values_ in sums.items()
        ]
        for part in chunks(out, 5000):
            await session.execute(dialect_insert(session, M.__table__), list(part))


# -- keeping them: agent states ---------------------------------------------------------------


async def states_written(
    session: AsyncSession, rows: Iterable[tuple[str, datetime, str | None]], rules: Rules
) -> None:
    """Recompute the agent time touched by state rows (interface, at, queue) just
    written, and note the queues whose events moved the agents."""
    earliest: dict[str, datetime] = {}
    members: dict[tuple[str | None, str], datetime] = {}
    for interface, at, queue in rows:
        if interface not in earliest or at < earliest[interface]:
            earliest[interface] = at
        if queue is not None and (
            (queue, interface) not in members or at < members[queue, interface]
        ):
            members[queue, interface] = at
    if not earliest:
        return
    await session.flush()
    await _lock(session)
    if members:
        stmt = dialect_insert(session, QueueAgent.__table__)
        earlier = (func.min if _sqlite(session) else func.least)(
            QueueAgent.first_at, stmt.excluded.first_at
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["queue", "interface"], set_={"first_at": earlier}
            ),
            [
                {"queue": q, "interface": i, "first_at": at}
                for (q, i), at in sorted(members.items())
            ],
        )
    for interface, at in sorted(earliest.items()):
        await _recompute_agent_time(
            session, interface, slot_floor(at.timestamp()), ZoneInfo(rules.timezone)
        )


async def _recompute_agent_time(
    session: AsyncSession, interface: str, lo: int | None, tz: ZoneInfo
) -> None:
    """One agent's slots from ``lo`` (None: their first row) up to the slot of their
    latest row, which becomes their mark; and the whole days and months among them.

    An agent whose latest row is a logout accrues nothing more: everything up to the end
    of that slot is summed, and their mark is the end of time (a month of an agent who
    went home before it ended is still read from its month row).
    """
    R = AgentStateRecord
    first = await session.scalar(select(func.min(R.at)).where(R.interface == interface))
    if first is None:
        return
    last_at, last_state = (
        await session.execute(
            select(R.at, R.state)
            .where(R.interface == interface)
            # The state in force: the last of the latest instant, in the order the
            # statistics read rows of one instant (cti.stats.definitions.agent_time).
            .order_by(R.at.desc(), R.state.desc(), R.paused_reason.desc())
            .limit(1)
        )
    ).one()
    gone = last_state == "logged_out"
    covered = slot_floor(last_at.timestamp()) + (SLOT_S if gone else 0)
    M = AgentTimeMark
    mark = await session.scalar(select(M.covered_until).where(M.interface == interface))
    new_mark = _END_OF_TIME if gone else covered
    # No mark: nothing of this agent is summed yet (a new agent, a new migration).
    # Else the span that was open at the old mark has closed: sum it from there.
    begin = slot_floor(first.timestamp()) if lo is None or mark is None else min(lo, mark)
    if mark is None:
        await session.execute(insert(M).values(interface=interface, covered_until=new_mark))
    elif mark != new_mark:
        await session.execute(
            update(M).where(M.interface == interface).values(covered_until=new_mark)
        )
    if begin >= covered:
        return
    S = AgentTimeSlot
    await session.execute(
        delete(S).where(
            S.interface == interface, S.width == SLOT_S, S.slot >= begin, S.slot < covered
        )
    )
    start, until = _utc(begin), _utc(covered)
    opening = select(func.max(R.at)).where(R.interface == interface, R.at < start).scalar_subquery()
    found = await session.execute(
        select(R.at, R.state, R.paused_reason)
        .where(R.interface == interface, R.at >= func.coalesce(opening, start), R.at < until)
        .order_by(R.at)
    )
    rows = [StateRow(interface, state, at, reason) for at, state, reason in found]
    seconds = state_slot_seconds(rows, begin, covered)
    values = [
        {
            "interface": interface,
            "width": SLOT_S,
            "slot": slot,
            "state": state,
            "paused_reason": reason,
            "seconds": value,
        }
        for (slot, state, reason), value in seconds.items()
    ]
    for part in chunks(values, 5000):
        await session.execute(dialect_insert(session, S.__table__), list(part))
    # Whole business days and months only: one the mark is inside of is read from below.
    sums = _Sums(
        S, [S.interface == interface], {"interface": interface}, ["state", "paused_reason"],
        ["seconds"],
    )  # fmt: skip
    days = day_starts(begin, covered, tz)
    months = month_starts(days[0], covered, tz)
    if not gone:  # the day and month the open span is in are read from below
        days = [day for day in days if day <= covered]
        months = [month for month in months if month <= covered]
    await sums.delete(session, DAY_S, days[0], _END_OF_TIME)
    await sums.sum_into(session, SLOT_S, DAY_S, days)
    await sums.delete(session, MONTH_W, months[0], _END_OF_TIME)
    await sums.sum_into(session, DAY_S, MONTH_W, months)


def calls_hook(rules: Rules) -> BatchHook:
    """The call writer's hook that keeps the rollups of the calls it inserts."""

    async def keep(session: AsyncSession, summaries: Sequence[CallSummary]) -> None:
        keys: list[CallKey] = []
        for summary in summaries:
            facts = stats_facts(summary)
            at = summary.started_at if facts.offered_at is None else facts.offered_at
            keys.append((facts.queue, _utc_float(at)))
        await calls_written(session, keys, rules)

    return keep


def _utc_float(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
