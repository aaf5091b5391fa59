"""Statistics rollups: sums per 15-minute slot, business day and month of the rows written.

A month of a busy queue is hundreds of thousands of calls and millions of agent state
rows; summing them per request cannot answer in tens of milliseconds. So the sums are
kept (:mod:`cti.stats.models`: ``stats_queue_slots``, ``stats_agent_call_slots``,
``stats_agent_time_slots``) and a period is read as whole months, days and slots from
them and its unaligned edges from the raw rows
(:func:`~cti.stats.definitions.split_period`). Days and months are those of the
business time zone (``CTI_TIMEZONE``), so a month of figures is one row per agent.

**Kept exact, off the writers' path.** A slot's sums are never adjusted by increments:
they are *recomputed* from the raw rows, with the same SQL the raw statistics use, so a
slot equals its raw rows by construction, whatever the order rows arrive in (a trace
replayed twice, a rating before its call). A transaction that writes calls, ratings or
agent states only leaves marks (:class:`~cti.stats.models.DirtyMark`: :func:`calls_written`,
:func:`rating_written`, :func:`states_written`); :func:`flush` recomputes what the marks
name and deletes the marks it read, in one transaction, soon after (a background job,
:class:`cti.stats.flusher.RollupFlusher`) or before the statistics read the sums
(:func:`flush_pending`). A writer that commits after a flush read the marks keeps its mark
for the next flush, and its rows are seen by that one. On PostgreSQL flushes and rebuilds
take one advisory lock, so two of them cannot each sum a slot without the other's rows.

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

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cti.calls.facts import stats_facts
from cti.calls.models import CallRecord
from cti.calls.service import utc
from cti.calls.writer import BatchHook
from cti.csat.models import CsatRating
from cti.db.batch import chunks, dialect_insert, is_sqlite
from cti.stats.definitions import (
    DAY_S,
    MONTH_W,
    SLOT_S,
    Rules,
    StateRow,
    day_floor,
    day_starts,
    month_floor,
    month_starts,
    next_day,
    next_month,
    slot_floor,
    state_slot_seconds,
)
from cti.stats.models import (
    AgentCallSlot,
    AgentStateRecord,
    AgentTimeMark,
    AgentTimeSlot,
    DirtyMark,
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
    "flush",
    "flush_in",
    "flush_pending",
    "pending",
    "rating_written",
    "rebuild",
    "states_written",
    "usable",
]

log = logging.getLogger(__name__)

_LOCK_KEY = 0x43544953  # "CTIS": one PostgreSQL advisory lock for every flush and rebuild
_END_OF_TIME = 2**37  # an epoch second past any call (year 6325)


async def _lock(session: AsyncSession) -> None:
    """Serialize flushes and rebuilds until the transaction ends (SQLite has one writer
    anyway).

    Taken before the recomputing statements, so each of them sees every row committed by
    a flush that held the lock before.
    """
    if not is_sqlite(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


# -- state -----------------------------------------------------------------------------------


async def _stored_rules(session: AsyncSession) -> Rules | None:
    """The rules the rollups were built with; None while they are not built."""
    row = (
        await session.execute(
            select(
                RollupState.sl_threshold_s, RollupState.short_abandon_s, RollupState.timezone
            ).where(RollupState.id == 1)
        )
    ).first()
    if row is None:
        return None
    return Rules(sl_threshold_s=row[0], short_abandon_s=row[1], timezone=row[2])


async def usable(session: AsyncSession, rules: Rules) -> bool:
    """True when the rollups hold every stored call, summed with ``rules``."""
    return await _stored_rules(session) == rules


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
    # Marks written before this statement name rows the recompute below reads; one
    # written after it stays for the next flush.
    tables = (DirtyMark, QueueSlot, AgentCallSlot, AgentTimeSlot, AgentTimeMark, QueueAgent)
    for table in (*tables, RollupState):
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
        await _sum_agent_call_periods(session, str(queue), None, ZoneInfo(rules.timezone))
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


# -- marking what writes leave out of date ---------------------------------------------------


CallKey = tuple[str | None, datetime | None]
"""A written call's queue and the instant it counts at (offered, else started)."""

_Marked = tuple[str | None, str | None, datetime]
"""What a mark names: queue, interface (None: a call's slot) and instant."""


async def calls_written(session: AsyncSession, keys: Iterable[CallKey]) -> None:
    """Mark the slots of the calls just written in this transaction."""
    marks: dict[tuple[str, int], datetime] = {}
    for queue, at in keys:
        if queue is not None and at is not None:
            marks.setdefault((queue, slot_floor(at.timestamp())), at)
    if marks:
        await session.execute(
            insert(DirtyMark),
            [
                {"queue": queue, "interface": None, "at": at}
                for (queue, _), at in sorted(marks.items())
            ],
        )


async def rating_written(session: AsyncSession, linkedid: str) -> None:
    """Mark the call a rating was just written for, by its Linkedid.

    Not by the call's slot as this transaction sees it: the call's row may be written at
    the same instant in another transaction, unseen here, and its mark flushed before
    this rating commits, without the rating. The flush that reads this mark runs after
    the rating committed: it finds the call's slot (:func:`_rated_calls`), or the call
    is not stored yet and its own mark, written later, sums the rating.
    """
    R = CsatRating
    await session.execute(
        insert(DirtyMark).from_select(
            ["linkedid", "at"], select(R.linkedid, R.rated_at).where(R.linkedid == linkedid)
        )
    )


async def _rated_calls(session: AsyncSession, linkedids: Iterable[str]) -> list[_Marked]:
    """What the marks of ratings name: the queue and counted instant of each rated call
    that is stored (one that is not is left out)."""
    C = CallRecord
    out: list[_Marked] = []
    for part in chunks(sorted(set(linkedids))):
        found = await session.execute(
            select(C.queue, C.offered_at, C.started_at).where(
                C.linkedid.in_(list(part)), C.queue.is_not(None)
            )
        )
        out += [
            (queue, None, started if offered is None else offered)
            for queue, offered, started in found
        ]
    return out


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
    """``queue``'s slots in ``[lo, hi)`` from its calls (its days and months:
    :func:`_sum_agent_call_periods`)."""
    start, end = utc(lo), utc(hi)
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


_AGENT_CALL_COLUMNS = [
    "queue", "width", "slot", "agent", "calls", "talk_s", "wrapup_s", "rating_sum", "rated",
    "ring_no_answer",
]  # fmt: skip


def _slot_of(epoch: Any) -> Any:
    return (epoch // SLOT_S) * SLOT_S


async def _sum_agent_call_periods(
    session: AsyncSession, queue: str, slots: Iterable[int] | None, tz: ZoneInfo
) -> None:
    """``queue``'s agent call rows of the business days and months ``slots`` fall in (None:
    every day and month from its first slot to its last), from its slots and days."""
    S = AgentCallSlot
    if slots is None:
        first_slot, last_slot = (
            await session.execute(
                select(func.min(S.slot), func.max(S.slot)).where(
                    S.queue == queue, S.width == SLOT_S
                )
            )
        ).one()
        if first_slot is None:
            return
        bounds = day_starts(int(first_slot), int(last_slot) + SLOT_S, tz)
        days = list(pairwise(bounds))
    else:
        days = [(day, next_day(day, tz)) for day in sorted({day_floor(s, tz) for s in slots})]
    months = [
        (month, next_month(month, tz)) for month in sorted({month_floor(d, tz) for d, _ in days})
    ]
    sums = _Sums(S, [S.queue == queue], {"queue": queue}, ["agent"], _AGENT_CALL_COLUMNS[4:])
    await sums.delete_at(session, DAY_S, [day for day, _ in days])
    await sums.sum_into(session, SLOT_S, DAY_S, days)
    await sums.delete_at(session, MONTH_W, [month for month, _ in months])
    await sums.sum_into(session, DAY_S, MONTH_W, months)


_PERIODS_PER_STATEMENT = 400
"""Periods summed by one statement (SQLite compounds at most 500 SELECTs)."""


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
        """The rows of ``width`` starting in ``[lo, hi)``."""
        M = self.model
        await session.execute(
            delete(M).where(*self.where, M.width == width, M.slot >= lo, M.slot < hi)
        )

    async def delete_at(self, session: AsyncSession, width: int, starts: Sequence[int]) -> None:
        """The rows of ``width`` starting at ``starts``."""
        M = self.model
        for part in chunks(starts):
            await session.execute(
                delete(M).where(*self.where, M.width == width, M.slot.in_(list(part)))
            )

    async def sum_into(
        self, session: AsyncSession, below: int, width: int, periods: Sequence[tuple[int, int]]
    ) -> None:
        """Rows of ``width`` for the periods ``[from, to)``: the sums of the rows of width
        ``below`` in each (deleted first by the caller), summed by the database."""
        M = self.model
        for part in chunks(periods, _PERIODS_PER_STATEMENT):
            # Epoch seconds computed here, written into the statement as numbers.
            bounds = [
                select(
                    literal_column(str(int(lo)), BigInteger).label("lo"),
                    literal_column(str(int(hi)), BigInteger).label("hi"),
                )
                for lo, hi in part
            ]
            period = (bounds[0] if len(bounds) == 1 else union_all(*bounds)).subquery("period")
            keys = [getattr(M, c) for c in self.keys]
            summed = (
                select(
                    *(literal(value, getattr(M, name).type) for name, value in self.fixed.items()),
                    literal(width, Integer),
                    period.c.lo,
                    *keys,
                    *(func.sum(getattr(M, c)) for c in self.values),
                )
                .select_from(M)
                .join(period, and_(M.slot >= period.c.lo, M.slot < period.c.hi))
                .where(*self.where, M.width == below)
                .group_by(period.c.lo, *keys)
            )
            await session.execute(
                insert(M).from_select(
                    [*self.fixed, "width", "slot", *self.keys, *self.values], summed
                )
            )


# -- marking agent states ----------------------------------------------------------------------


async def states_written(
    session: AsyncSession, rows: Iterable[tuple[str, datetime, str | None]]
) -> None:
    """Mark the agent time touched by state rows (interface, at, queue) just written:
    per agent and queue, the earliest row."""
    marks: dict[tuple[str, str | None], datetime] = {}
    for interface, at, queue in rows:
        if (interface, queue) not in marks or at < marks[interface, queue]:
            marks[interface, queue] = at
    if marks:
        await session.execute(
            insert(DirtyMark),
            [
                {"queue": queue, "interface": interface, "at": at}
                for (interface, queue), at in sorted(marks.items(), key=lambda m: (m[0][0], m[1]))
            ],
        )


# -- flushing: recomputing what the marks name -------------------------------------------------


async def pending(session: AsyncSession) -> bool:
    """Whether a write left marks no flush has read yet."""
    return await session.scalar(select(DirtyMark.id).limit(1)) is not None


async def flush(sessions: async_sessionmaker[AsyncSession], rules: Rules) -> int:
    """Recompute what the marks name, in a transaction of its own; how many marks."""
    async with sessions() as session, session.begin():
        return await flush_in(session, rules)


async def flush_pending(session: AsyncSession, rules: Rules) -> None:
    """Flush before reading the sums with ``session``, if a write left marks (so a read
    sees every write committed before it). The flush commits on its own when ``session``
    is on an engine; on a connection it is part of the session's transaction."""
    if not await pending(session):
        return
    if isinstance(session.bind, AsyncEngine):
        await flush(async_sessionmaker(session.bind), rules)
    else:
        await flush_in(session, rules)


async def flush_in(session: AsyncSession, rules: Rules) -> int:
    """:func:`flush` in ``session``'s transaction: lock, read the marks, recompute, delete
    the marks read (not those written since: the next flush recomputes theirs)."""
    await _lock(session)
    M = DirtyMark
    marks = list(
        await session.execute(select(M.id, M.queue, M.interface, M.at, M.linkedid).order_by(M.id))
    )
    if not marks:
        return 0
    named: list[_Marked] = [(m.queue, m.interface, m.at) for m in marks if m.linkedid is None]
    # A rating's mark whose call is not stored yet goes too: the rating has committed,
    # so the call's own mark, when it is written, sums it.
    named += await _rated_calls(session, [m.linkedid for m in marks if m.linkedid is not None])
    # A flush keeps the rules the rollups were built with; ``rules`` until they are built.
    built = await _stored_rules(session)
    await _recompute_marked(session, named, rules if built is None else built)
    for part in chunks([mark.id for mark in marks]):
        await session.execute(delete(DirtyMark).where(DirtyMark.id.in_(list(part))))
    return len(marks)


async def _recompute_marked(session: AsyncSession, marks: Sequence[_Marked], rules: Rules) -> None:
    """The slots, days and months of the calls and the agent time ``marks`` name."""
    tz = ZoneInfo(rules.timezone)
    calls: dict[str, set[int]] = defaultdict(set)
    earliest: dict[str, datetime] = {}
    members: dict[tuple[str, str], datetime] = {}
    for queue, interface, at in marks:
        if interface is None:
            if queue is not None:
                calls[queue].add(slot_floor(at.timestamp()))
            continue
        if interface not in earliest or at < earliest[interface]:
            earliest[interface] = at
        if queue is not None and (
            (queue, interface) not in members or at < members[queue, interface]
        ):
            members[queue, interface] = at
    if members:
        stmt = dialect_insert(session, QueueAgent.__table__)
        earlier = (func.min if is_sqlite(session) else func.least)(
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
    for queue, slots in sorted(calls.items()):
        for lo, hi in _runs(sorted(slots)):
            await _recompute_calls(session, queue, lo, hi, rules)
        await _sum_agent_call_periods(session, queue, slots, tz)
    for interface, at in sorted(earliest.items()):
        await _recompute_agent_time(session, interface, slot_floor(at.timestamp()), tz)


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
    start, until = utc(begin), utc(covered)
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
    await sums.sum_into(session, SLOT_S, DAY_S, list(pairwise(days)))
    await sums.delete(session, MONTH_W, months[0], _END_OF_TIME)
    await sums.sum_into(session, DAY_S, MONTH_W, list(pairwise(months)))


def calls_hook(on_marked: Callable[[], None] | None = None) -> BatchHook:
    """The call writer's hook that marks the slots of the calls it inserts (then calls
    ``on_marked``: the flusher's poke)."""

    async def mark(session: AsyncSession, summaries: Sequence[CallSummary]) -> None:
        keys: list[CallKey] = []
        for summary in summaries:
            facts = stats_facts(summary)
            at = summary.started_at if facts.offered_at is None else facts.offered_at
            keys.append((facts.queue, utc(at)))
        await calls_written(session, keys)
        if keys and on_marked is not None:
            on_marked()

    return mark
