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
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from cti.calls.models import CallEventRecord, CallRecord
from cti.csat.models import CsatRating
from cti.db.base import UtcDateTime
from cti.db.batch import is_sqlite
from cti.stats.definitions import (
    AgentCallSums,
    AgentTime,
    Interval,
    Rules,
    Sums,
    add_state_time,
    offset_segments,
)
from cti.stats.models import AgentStateRecord

__all__ = [
    "agent_call_selects",
    "agent_call_sums",
    "agent_state_time",
    "agent_state_windows",
    "interval_sums",
    "plan_for_the_values",
    "queue_members",
]

_C = CallRecord


async def plan_for_the_values(session: AsyncSession) -> None:
    """PostgreSQL: plan each statistics statement for its own values, in this transaction.

    The best plan depends on the values: a busy queue's month is hundreds of thousands
    of calls, a small queue's hour a handful. asyncpg prepares statements, and after
    five runs PostgreSQL may keep one generic plan for all values, which for a busy
    month measured twice as slow (benchmarks/stats.py).
    """
    if not is_sqlite(session):
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _epoch(session: AsyncSession, column: Any) -> ColumnElement[int]:
    """Whole seconds since 1970 of a UTC timestamp column, on either database."""
    if is_sqlite(session):
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.date_part("epoch", column, type_=Float)), BigInteger)


def _seconds(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[float]:
    """Seconds from ``earlier`` to ``later``, fractions kept, on either database."""
    if is_sqlite(session):
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    # date_part is double precision; EXTRACT is numeric since PostgreSQL 14, a third
    # slower over a month of agent states.
    return func.date_part("epoch", later - earlier, type_=Float)


def _at(value: datetime) -> ColumnElement[datetime]:
    """An instant as a bound value stored the way the columns store it (UTC)."""
    return literal(value, UtcDateTime())


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


def _rating_of(start: datetime) -> ColumnElement[bool]:
    """The caller's rating of a call counted from ``start`` on.

    A caller rates after the talk, so after the call was offered: ratings from before
    ``start`` (less an hour for the service's and Asterisk's clocks) are never read, and
    the years of ratings before the period cost nothing (ix_csat_ratings_rated_at).
    """
    return and_(
        CsatRating.linkedid == _C.linkedid,
        CsatRating.rated_at >= start - _CLOCKS_APART,
    )


_CLOCKS_APART = timedelta(hours=1)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _total(condition: ColumnElement[bool], value: Any) -> Any:
    return func.sum(case((condition, func.coalesce(value, 0.0)), else_=0.0))


def sums_columns(rules: Rules) -> list[Any]:
    """The :class:`Sums` of a group of calls as SQL aggregates, in the dataclass's order
    (:func:`sums_from_row`); the calls joined with their ratings (:func:`calls_with_ratings`)."""
    offered = _C.offered_at.is_not(None)
    answered = and_(offered, _C.answered_at.is_not(None))
    unanswered = and_(offered, _C.answered_at.is_(None))
    abandoned = and_(unanswered, _C.outcome != "timeout")
    rated = and_(offered, CsatRating.rating.is_not(None))
    return [
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
        func.sum(case((rated, CsatRating.rating), else_=0)),
        _count(rated),
    ]


SUMS_FIELDS = (
    "offered", "answered", "abandoned", "short_abandons", "timeouts", "voicemails",
    "transfers", "answered_within", "wait_answered_s", "talk_s", "wrapup_s",
    "longest_wait_s", "rating_sum", "rated",
)  # fmt: skip
"""The names of :func:`sums_columns`, in order (also the rollup table's columns)."""


def sums_from_row(values: Sequence[Any]) -> Sums:
    """The :class:`Sums` of one row of :func:`sums_columns` (or of the rollup's columns)."""
    longest = values[11]
    return Sums(
        offered=int(values[0] or 0),
        answered=int(values[1] or 0),
        abandoned=int(values[2] or 0),
        short_abandons=int(values[3] or 0),
        timeouts=int(values[4] or 0),
        voicemails=int(values[5] or 0),
        transfers=int(values[6] or 0),
        answered_within=int(values[7] or 0),
        wait_answered_s=float(values[8] or 0.0),
        talk_s=float(values[9] or 0.0),
        wrapup_s=float(values[10] or 0.0),
        longest_wait_s=None if longest is None else float(longest),
        rating_sum=int(values[12] or 0),
        rated=int(values[13] or 0),
    )


def counted_epoch(session: AsyncSession) -> ColumnElement[int]:
    """The epoch second a call counts at (offered, or reached voicemail)."""
    return _epoch(session, func.coalesce(_C.offered_at, _C.started_at))


def calls_with_ratings(stmt: Select[Any], queue: str, start: datetime, end: datetime) -> Any:
    """``stmt`` over ``queue``'s calls counted in ``[start, end)`` and their ratings."""
    return (
        stmt.select_from(_C)
        .outerjoin(CsatRating, _rating_of(start))
        .where(_queue_calls(queue), _counted_in(start, end))
    )


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
    """:class:`Sums` per bucket key of ``queue``'s calls in ``[start, end)``, their
    callers' ratings (CSAT) included: one pass over the period's calls."""
    out: dict[int, Sums] = {}
    for seg_start, seg_end, offset in offset_segments(start, end, tz):
        # Integer floor division on both databases (epochs are positive).
        key = ((counted_epoch(session) + offset) // interval.seconds).label("bucket")
        stmt = calls_with_ratings(
            select(key, *sums_columns(rules)), queue, seg_start, seg_end
        ).group_by(key)
        for row in await session.execute(stmt):
            add_bucket(out, int(row[0]), sums_from_row(row[1:]))
    return out


def add_bucket(out: dict[int, Sums], bucket: int, part: Sums) -> None:
    """Add ``part`` to ``out[bucket]`` (a bucket may come in pieces: an offset change,
    rollups and raw edges)."""
    if bucket in out:
        out[bucket].add(part)
    else:
        out[bucket] = part


def agent_call_selects(
    queue: str, start: datetime, end: datetime, key: ColumnElement[int] | None = None
) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """Per agent (and per ``key`` first, when given) over ``queue``'s calls offered in
    ``[start, end)``: the calls they answered (``agent, calls, talk_s, wrapup_s,
    rating_sum, rated``) and the rings they let go unanswered (``agent, count``)."""
    period = and_(_queue_calls(queue), _C.offered_at >= start, _C.offered_at < end)
    answered = _C.answered_at.is_not(None)
    keys = [] if key is None else [key]
    taken = (
        select(
            *keys,
            _C.agent,
            _count(answered),
            _total(answered, _C.talk_s),
            _total(answered, _C.wrapup_s),
            func.sum(func.coalesce(CsatRating.rating, 0)),
            func.count(CsatRating.rating),
        )
        .select_from(_C)
        .outerjoin(CsatRating, _rating_of(start))
        .where(period, _C.agent.is_not(None))
        .group_by(*keys, _C.agent)
    )
    interface = CallEventRecord.data["interface"].as_string()
    missed = (
        select(*keys, interface, func.count())
        .select_from(CallEventRecord)
        .join(_C, CallEventRecord.call_id == _C.id)
        # Inline, not bound: the partial index ix_call_events_ring_no_answer then applies.
        .where(period, CallEventRecord.type == _RING_NO_ANSWER, interface.is_not(None))
        .group_by(*keys, interface)
    )
    return taken, missed


def offered_epoch(session: AsyncSession) -> ColumnElement[int]:
    """The epoch second a call was offered (what an agent's calls count by)."""
    return _epoch(session, _C.offered_at)


async def agent_call_sums(
    session: AsyncSession, *, queue: str, start: datetime, end: datetime
) -> dict[str, AgentCallSums]:
    """Per agent: the queue's calls offered in the period that they answered, let ring,
    or that their callers rated. Agents who did none of these are left out."""
    out: dict[str, AgentCallSums] = defaultdict(AgentCallSums)
    taken, missed = agent_call_selects(queue, start, end)
    for agent, calls, talk, wrapup, rating_sum, rated in await session.execute(taken):
        if calls or rated:
            sums = out[str(agent)]
            sums.calls, sums.talk_s, sums.wrapup_s = int(calls), float(talk), float(wrapup)
            sums.rating_sum, sums.rated = int(rating_sum), int(rated)
    for agent, count in await session.execute(missed):
        out[str(agent)].ring_no_answer = int(count)
    return dict(out)


_RING_NO_ANSWER: BindParameter[str] = bindparam(
    "ring_no_answer", "agent_ring_no_answer", literal_execute=True
)


async def queue_members(session: AsyncSession, *, queue: str, end: datetime) -> list[str]:
    """Every agent whose state changed on an event of ``queue`` before ``end``.

    One index probe per agent (ix_agent_states_queue_interface_at, the next interface
    after the last found), not a scan of the queue's whole state history.
    """
    A, B = aliased(AgentStateRecord), aliased(AgentStateRecord)
    found = (
        select(func.min(A.interface).label("interface"))
        .where(A.queue == queue, A.at < end)
        .cte("members", recursive=True)
    )
    after = found.alias("after")
    found = found.union_all(
        select(
            select(func.min(B.interface))
            .where(B.queue == queue, B.at < end, B.interface > after.c.interface)
            .scalar_subquery()
        ).where(after.c.interface.is_not(None))
    )
    rows = await session.execute(select(found.c.interface).where(found.c.interface.is_not(None)))
    return [str(name) for name in rows.scalars()]


def _state_spans(
    session: AsyncSession, who: Any, start: Any, until: Any
) -> Select[str, str, float]:
    """Seconds of each of one agent's states within ``[start, until)``: every row from
    the one the period opens in (the last before ``start``) on, lasting until the next
    row (or ``until``), clipped to the period; what :func:`~cti.stats.definitions.agent_time`
    does to the same rows. ``start`` and ``until`` are instants or SQL expressions
    (the bounds of an enclosing ``LATERAL``)."""
    start, until = _bound(start), _bound(until)
    A, B = aliased(AgentStateRecord), aliased(AgentStateRecord)
    opening = (
        select(func.max(B.at))
        .where(B.interface == who, B.at < start)
        .correlate_except(B)  # ``who`` may be the agent of an enclosing LATERAL
        .scalar_subquery()
    )
    begins = case((A.at < start, start), else_=A.at)
    ends = func.coalesce(func.lead(A.at).over(order_by=(A.at, A.state, A.paused_reason)), until)
    # Two rows of the instant the period opens after (a login and a logout of the same
    # second): the first ends before ``start`` and lasts nothing in the period, as in
    # agent_time(); unclipped it counted the whole time since then, negatively.
    return select(
        A.state.label("state"),
        A.paused_reason.label("paused_reason"),
        case((ends > begins, _seconds(session, ends, begins)), else_=0.0).label("seconds"),
    ).where(A.interface == who, A.at >= func.coalesce(opening, start), A.at < until)


def _bound(value: Any) -> Any:
    return _at(value) if isinstance(value, datetime) else value


Window = tuple[str, datetime, datetime]
"""One agent's time to sum: (interface, from, until)."""


async def agent_state_time(
    session: AsyncSession, *, names: Sequence[str], start: datetime, until: datetime
) -> dict[str, AgentTime]:
    """:class:`AgentTime` of each agent in ``names`` over ``[start, until)``, summed by
    the database (a month of a busy queue is millions of state rows)."""
    return await agent_state_windows(session, [(name, start, until) for name in names])


async def agent_state_windows(
    session: AsyncSession, windows: Sequence[Window]
) -> dict[str, AgentTime]:
    """:class:`AgentTime` of each agent named in ``windows``, summed over their windows
    (an agent may have several, which must not overlap)."""
    out = {name: AgentTime() for name, _, _ in windows}
    windows = [w for w in windows if w[1] < w[2]]
    if not windows:
        return out
    if is_sqlite(session):  # in-process: one statement per window costs nothing
        for name, start, until in windows:
            one = _state_spans(session, literal(name), start, until).subquery()
            sums = await session.execute(
                select(one.c.state, one.c.paused_reason, func.sum(one.c.seconds)).group_by(
                    one.c.state, one.c.paused_reason
                )
            )
            for state, reason, seconds in sums:
                add_state_time(out[name], state, reason, float(seconds or 0.0))
        return out
    # PostgreSQL: every window in one statement, each agent's rows read in index order.
    when = ARRAY(UtcDateTime())
    who = (
        func.unnest(
            bindparam("names", [w[0] for w in windows], type_=ARRAY(String)),
            bindparam("starts", [w[1] for w in windows], type_=when),
            bindparam("untils", [w[2] for w in windows], type_=when),
        )
        .table_valued("interface", "start", "until")
        .render_derived(name="who")
    )
    spans = _state_spans(session, who.c.interface, who.c.start, who.c.until).lateral("spans")
    rows = await session.execute(
        select(who.c.interface, spans.c.state, spans.c.paused_reason, func.sum(spans.c.seconds))
        .select_from(who)
        .join(spans, true())
        .group_by(who.c.interface, spans.c.state, spans.c.paused_reason)
    )
    for name, state, reason, seconds in rows:
        add_state_time(out[name], state, reason, float(seconds or 0.0))
    return out
