"""The figures' sums straight from the database: one ``GROUP BY`` bucket per query.

Buckets follow the business time zone without the database knowing about zones
(SQLite has none): the period is cut where the zone's UTC offset changes
(:func:`~cti.stats.definitions.offset_segments`) and within a piece the bucket is
``(epoch + offset) // width``, the number :func:`~cti.stats.definitions.bucket_key`
computes. The aggregates are :func:`~cti.stats.definitions.add_call` in SQL; a test
checks both agree on the recorded traces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from cti.calls.models import CallEventRecord, CallRecord
from cti.csat.models import CsatRating
from cti.stats.definitions import (
    AgentCallSums,
    Interval,
    Rules,
    StateRow,
    Sums,
    offset_segments,
)
from cti.stats.models import AgentStateRecord

__all__ = ["agent_call_sums", "agent_state_rows", "interval_sums"]

_C = CallRecord


def _epoch(session: AsyncSession, column: Any) -> ColumnElement[int]:
    """Whole seconds since 1970 of a UTC timestamp column, on either database."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def _queue_calls(queue: str) -> ColumnElement[bool]:
    return and_(_C.queue == queue, _C.direction == "inbound")


def _counted_in(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Offered in the period, or (never offered) reached voicemail in it."""
    return or_(
        and_(_C.offered_at >= start, _C.offered_at < end),
        and_(
            _C.offered_at.is_(None),
            _C.voicemail.is_(True),
            _C.started_at >= start,
            _C.started_at < end,
        ),
    )


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _total(condition: ColumnElement[bool], value: Any) -> Any:
    return func.sum(case((condition, func.coalesce(value, 0.0)), else_=0.0))


async def interval_sums(
    session: AsyncSession,
    *,
    queue: str,
    start: datetime,
    end: datetime,
    interval: Interval,
    tz: ZoneInfo,
    rules: Rules,
) -> dict[int, Sums]:
    """:class:`Sums` per bucket key of ``queue``'s calls in ``[start, end)``."""
    offered = _C.offered_at.is_not(None)
    answered = and_(offered, _C.answered_at.is_not(None))
    unanswered = and_(offered, _C.answered_at.is_(None))
    abandoned = and_(unanswered, _C.outcome != "timeout")
    out: dict[int, Sums] = {}
    for seg_start, seg_end, offset in offset_segments(start, end, tz):
        epoch = _epoch(session, func.coalesce(_C.offered_at, _C.started_at))
        # Integer floor division on both databases (epochs are positive).
        key = ((epoch + offset) // interval.seconds).label("bucket")
        stmt = (
            select(
                key,
                _count(offered),
                _count(answered),
                _count(abandoned),
                _count(and_(abandoned, _C.wait_s <= rules.short_abandon_s)),
                _count(and_(unanswered, _C.outcome == "timeout")),
                _count(_C.voicemail.is_(True)),
                func.sum(case((answered, _C.transfers), else_=0)),
                _count(and_(answered, _C.wait_s <= rules.sl_threshold_s)),
                _total(answered, _C.wait_s),
                _total(answered, _C.talk_s),
                _total(answered, _C.wrapup_s),
                func.max(case((offered, _C.wait_s), else_=None)),
            )
            .where(_queue_calls(queue), _counted_in(seg_start, seg_end))
            .group_by(key)
        )
        for row in await session.execute(stmt):
            part = Sums(
                offered=int(row[1] or 0),
                answered=int(row[2] or 0),
                abandoned=int(row[3] or 0),
                short_abandons=int(row[4] or 0),
                timeouts=int(row[5] or 0),
                voicemails=int(row[6] or 0),
                transfers=int(row[7] or 0),
                answered_within=int(row[8] or 0),
                wait_answered_s=float(row[9] or 0.0),
                talk_s=float(row[10] or 0.0),
                wrapup_s=float(row[11] or 0.0),
                longest_wait_s=None if row[12] is None else float(row[12]),
            )
            out.setdefault(int(row[0]), Sums()).add(part)
    return out


async def agent_call_sums(
    session: AsyncSession, *, queue: str, start: datetime, end: datetime
) -> dict[str, AgentCallSums]:
    """Per agent: the queue's calls offered in the period that they answered or let ring."""
    period = and_(_queue_calls(queue), _C.offered_at >= start, _C.offered_at < end)
    out: dict[str, AgentCallSums] = defaultdict(AgentCallSums)
    taken = (
        select(
            _C.agent,
            func.count(),
            func.sum(func.coalesce(_C.talk_s, 0.0)),
            func.sum(func.coalesce(_C.wrapup_s, 0.0)),
        )
        .where(period, _C.answered_at.is_not(None), _C.agent.is_not(None))
        .group_by(_C.agent)
    )
    for agent, calls, talk, wrapup in await session.execute(taken):
        sums = out[str(agent)]
        sums.calls, sums.talk_s, sums.wrapup_s = int(calls), float(talk or 0), float(wrapup or 0)
    interface = CallEventRecord.data["interface"].as_string()
    missed = (
        select(interface, func.count())
        .select_from(CallEventRecord)
        .join(_C, CallEventRecord.call_id == _C.id)
        .where(period, CallEventRecord.type == "agent_ring_no_answer", interface.is_not(None))
        .group_by(interface)
    )
    for agent, count in await session.execute(missed):
        out[str(agent)].ring_no_answer = int(count)
    return dict(out)


async def agent_state_rows(
    session: AsyncSession, *, queue: str, agents: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[StateRow]]:
    """State history of the queue's agents: those given, and every agent whose state
    changed on an event of this queue before ``end``; each with the row the period
    opens in (the last before ``start``) and every row within it."""
    A = AgentStateRecord
    members = set(agents)
    members.update(
        (
            await session.execute(
                select(A.interface).where(A.queue == queue, A.at < end).distinct()
            )
        ).scalars()
    )
    if not members:
        return {}
    names = sorted(members)
    opening = (
        select(A.interface, func.max(A.at).label("at"))
        .where(A.interface.in_(names), A.at < start)
        .group_by(A.interface)
        .subquery()
    )
    before = select(A).join(opening, and_(A.interface == opening.c.interface, A.at == opening.c.at))
    within = select(A).where(A.interface.in_(names), A.at >= start, A.at < end)
    out: dict[str, list[StateRow]] = {name: [] for name in names}
    for stmt in (before, within):
        for rec in (await session.execute(stmt)).scalars():
            out[rec.interface].append(StateRow(rec.interface, rec.state, rec.at, rec.paused_reason))
    for rows in out.values():
        rows.sort(key=lambda r: r.at)
    return out


async def rated_calls(
    session: AsyncSession, *, queue: str, start: datetime, end: datetime
) -> list[tuple[datetime, str | None, int]]:
    """The queue's calls offered in the period that the caller rated after the call:
    (offered_at, the call's agent, rating 1..5)."""
    rows = await session.execute(
        select(_C.offered_at, _C.agent, CsatRating.rating)
        .join(CsatRating, CsatRating.linkedid == _C.linkedid)
        .where(_queue_calls(queue), _C.offered_at >= start, _C.offered_at < end)
    )
    return [(at, agent, int(rating)) for at, agent, rating in rows if at is not None]
