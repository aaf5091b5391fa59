"""Reading call records, finished and live."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cti.calls.models import CallEventRecord, CallNote, CallRecord
from cti.calls.schemas import CallDetailOut, CallEventOut, CallNoteIn, CallOut
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.tracker import LiveCall
from cti.tracking.values import extension_of


@dataclass(frozen=True, slots=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    caller: str | None = None
    agent: str | None = None
    queue: str | None = None
    outcome: str | None = None
    direction: str | None = None


def _filtered(stmt: Select[Any], f: CallFilter) -> Select[Any]:
    if f.since is not None:
        stmt = stmt.where(CallRecord.started_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(CallRecord.started_at < f.until)
    if f.caller:
        stmt = stmt.where(CallRecord.caller_number == f.caller)
    if f.agent:
        stmt = stmt.where(CallRecord.agent == f.agent)
    if f.queue:
        stmt = stmt.where(CallRecord.queue == f.queue)
    if f.outcome:
        stmt = stmt.where(CallRecord.outcome == f.outcome)
    if f.direction:
        stmt = stmt.where(CallRecord.direction == f.direction)
    return stmt


def record_out(row: CallRecord) -> CallOut:
    return CallOut(
        id=row.linkedid,
        linkedid=row.linkedid,
        active=False,
        caller_number=row.caller_number,
        caller_name=row.caller_name,
        dnis=row.dnis,
        queue=row.queue,
        agent=row.agent,
        outcome=row.outcome,
        started_at=row.started_at,
        ended_at=row.ended_at,
        wait_s=row.wait_s,
        talk_s=row.talk_s,
        hangup_cause=row.hangup_cause,
        direction="outbound" if row.direction == "outbound" else "inbound",
        order_id=row.order_id,
    )


async def list_calls(
    session: AsyncSession, f: CallFilter, limit: int, offset: int
) -> tuple[list[CallOut], int]:
    total = (
        await session.execute(_filtered(select(func.count()).select_from(CallRecord), f))
    ).scalar_one()
    rows = (
        await session.execute(
            _filtered(select(CallRecord), f)
            .order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return [record_out(r) for r in rows], int(total)


async def last_calls(
    session: AsyncSession, *, caller_numbers: Sequence[str], limit: int = 3
) -> list[CallRecord]:
    """The newest finished calls from any of these numbers, as the trunk wrote them."""
    if not caller_numbers:
        return []
    rows = await session.execute(
        select(CallRecord)
        .where(CallRecord.caller_number.in_(list(caller_numbers)))
        .order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
        .limit(limit)
    )
    return list(rows.scalars())


def agent_forms(agent: str) -> list[str]:
    """The ways a stored row may name the agent at extension ``agent``.

    Asterisk names the answering member by its interface; older records may hold the
    extension. Anything but an extension is matched as given.
    """
    if not agent.isdigit():
        return [agent]
    return [agent, f"PJSIP/{agent}", f"SIP/{agent}", f"Local/{agent}"]


@dataclass(frozen=True, slots=True)
class AgentDay:
    """An agent's answered calls and their talk time on one local day."""

    day: date
    answered: int
    talk_s: float


async def agent_day(session: AsyncSession, *, extension: str, day: date, tz: tzinfo) -> AgentDay:
    """Calls answered by the agent at ``extension`` that started on ``day`` in zone ``tz``."""
    start = datetime.combine(day, time(0), tz)
    end = start + timedelta(days=1)
    agents = agent_forms(extension)
    count, talk = (
        await session.execute(
            select(func.count(CallRecord.id), func.coalesce(func.sum(CallRecord.talk_s), 0.0))
            .where(CallRecord.agent.in_(agents))
            .where(CallRecord.outcome == "answered")
            .where(CallRecord.started_at >= start, CallRecord.started_at < end)
        )
    ).one()
    return AgentDay(day=day, answered=int(count), talk_s=float(talk or 0.0))


async def get_call(session: AsyncSession, linkedid: str) -> CallDetailOut | None:
    row = (
        await session.execute(
            select(CallRecord)
            .where(CallRecord.linkedid == linkedid)
            .options(selectinload(CallRecord.events))
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return CallDetailOut(
        **record_out(row).model_dump(),
        timeline=[CallEventOut(type=e.type, at=e.at, data=e.data) for e in row.events],
    )


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def plain_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of a domain event's data (drops e.g. the ENDED summary object)."""
    return {k: v for k, v in data.items() if isinstance(v, str | int | float | bool | None)}


def event_out(event: DomainEvent) -> CallEventOut:
    return CallEventOut(type=event.type.value, at=utc(event.timestamp), data=plain_data(event.data))


def live_out(call: LiveCall) -> CallOut:
    return CallOut(
        id=call.linkedid,
        linkedid=call.linkedid,
        active=True,
        caller_number=call.caller_number,
        caller_name=call.caller_name,
        dnis=call.dnis,
        queue=call.queue,
        agent=call.agent,
        outcome=None,
        state=str(call.state),
        started_at=utc(call.started_at),
        ended_at=None,
        wait_s=None,
        talk_s=None,
        hangup_cause=None,
        direction="outbound" if call.direction == "outbound" else "inbound",
        order_id=call.order_id,
    )


def live_detail(call: LiveCall) -> CallDetailOut:
    return CallDetailOut(
        **live_out(call).model_dump(), timeline=[event_out(e) for e in call.timeline]
    )


# --- who took a call ---------------------------------------------------------------------


def answered_by(agent: str | None, answers: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The extensions of the agents who took a call: the call's agent, and every agent an
    ``answered`` event names (a call transferred back into a queue is answered again)."""
    named = [(agent, None), *((a.get("agent"), a.get("member_name")) for a in answers)]
    return frozenset(
        ext for ext in (extension_of(i, m) for i, m in named if i or m) if ext is not None
    )


def summary_agents(agent: str | None, timeline: Iterable[DomainEvent]) -> frozenset[str]:
    """:func:`answered_by` of a live or just finished call, from its domain events."""
    return answered_by(agent, (e.data for e in timeline if e.type is DomainEventType.ANSWERED))


async def stored_call_agents(session: AsyncSession, linkedid: str) -> frozenset[str] | None:
    """:func:`answered_by` of a stored call; None when no call has this linkedid."""
    return (await stored_calls_agents(session, [linkedid])).get(linkedid)


_IN_CHUNK = 500
"""Values per ``IN (...)``: far below every driver's limit on bound parameters."""


async def stored_calls_agents(
    session: AsyncSession, linkedids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """:func:`answered_by` of each stored call among ``linkedids`` (absent ones are left out)."""
    wanted = list(dict.fromkeys(linkedids))
    calls: dict[int, tuple[str, str | None]] = {}
    answers: dict[int, list[Mapping[str, Any]]] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        rows = await session.execute(
            select(CallRecord.id, CallRecord.linkedid, CallRecord.agent).where(
                CallRecord.linkedid.in_(wanted[i : i + _IN_CHUNK])
            )
        )
        calls.update({r.id: (r.linkedid, r.agent) for r in rows})
    ids = list(calls)
    for i in range(0, len(ids), _IN_CHUNK):
        events = await session.execute(
            select(CallEventRecord.call_id, CallEventRecord.data).where(
                CallEventRecord.call_id.in_(ids[i : i + _IN_CHUNK]),
                CallEventRecord.type == DomainEventType.ANSWERED.value,
            )
        )
        for call_id, data in events:
            answers.setdefault(call_id, []).append(data)
    return {
        linkedid: answered_by(agent, answers.get(call_id, ()))
        for call_id, (linkedid, agent) in calls.items()
    }


class LiveCallAgents(Protocol):
    """Who took the calls still in memory (:class:`cti.calls.live.LiveCalls`)."""

    def agents_of(self, linkedid: str) -> frozenset[str] | None: ...

    def taken_by(self, extension: str) -> frozenset[str]: ...


async def took_call(
    session: AsyncSession, live: LiveCallAgents, linkedid: str, extension: str
) -> bool:
    """Did the agent at ``extension`` take (answer) this call, live, just ended or stored?"""
    agents = live.agents_of(linkedid)
    if agents is None:
        agents = await stored_call_agents(session, linkedid)
    return agents is not None and extension in agents


async def calls_agents(
    session: AsyncSession, live: LiveCallAgents, linkedids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """:func:`took_call`'s answer for many calls at once: who took each one."""
    found: dict[str, frozenset[str]] = {}
    stored: list[str] = []
    for linkedid in dict.fromkeys(linkedids):
        agents = live.agents_of(linkedid)
        if agents is None:
            stored.append(linkedid)
        else:
            found[linkedid] = agents
    return {**found, **await stored_calls_agents(session, stored)}


# --- call notes -------------------------------------------------------------------------


async def save_call_note(
    session: AsyncSession, *, linkedid: str, agent: str, data: CallNoteIn, now: datetime
) -> CallNote:
    """One note per call and agent; saving again replaces it."""
    row = (
        await session.execute(
            select(CallNote).where(CallNote.linkedid == linkedid, CallNote.agent == agent)
        )
    ).scalar_one_or_none()
    if row is None:
        row = CallNote(linkedid=linkedid, agent=agent, created_at=now)
        session.add(row)
    row.disposition = data.disposition.value
    row.note = data.note
    row.updated_at = now
    await session.flush()
    return row


async def call_notes(session: AsyncSession, *, linkedids: Sequence[str]) -> list[CallNote]:
    """The agents' notes of these calls, in the order they were first saved."""
    if not linkedids:
        return []
    rows = await session.execute(
        select(CallNote).where(CallNote.linkedid.in_(list(linkedids))).order_by(CallNote.id)
    )
    return list(rows.scalars())
