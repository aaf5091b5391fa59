"""Reading the recordings catalog: search, one recording, a call's recordings, deletion.

Who may see a recording is who may see its call: an ``agent`` token the recordings of
the calls it took (:func:`cti.calls.service.took_call`), a ``recordings:read`` token all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVarTuple

from sqlalchemy import ColumnElement, Select, String, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cti.calls.models import CallEventRecord, CallRecord
from cti.calls.schemas import CallEventOut, CallRecordingOut
from cti.calls.service import LiveCallAgents, agent_forms, calls_agents, utc
from cti.errors import Gone
from cti.jobs.models import Job, JobStatus
from cti.recordings.ids import recording_id
from cti.recordings.models import Recording, RecordingStatus, Review
from cti.recordings.schemas import PausedSpan, RecordingOut
from cti.recordings.store import OutsideRoot, RecordingStore
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.values import extension_of, interface_of

RECORDING_STATUS = "recording"
"""What :class:`CallRecordingOut` says of a recording still being written."""


def job_key(public_id: str) -> str:
    """The durable job that catalogs a finished recording (cti.recordings' catalog job)."""
    return f"recording:{public_id}"


# --- search ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    callers: tuple[str, ...] = ()
    """Forms of one caller number (its E.164 form and as given); empty: any caller."""
    order_id: str | None = None
    queue: str | None = None
    direction: str | None = None
    min_duration_s: float | None = None
    reviewed: bool | None = None
    status: str | None = RecordingStatus.AVAILABLE.value


def reviewed_clause() -> ColumnElement[bool]:
    """The recording has a review that no other review corrects."""
    correction = aliased(Review)
    return exists(
        select(Review.id).where(
            Review.recording_id == Recording.id,
            ~exists(select(correction.id).where(correction.corrects_id == Review.id)),
        )
    )


_Ts = TypeVarTuple("_Ts")


def _filtered(stmt: Select[*_Ts], f: RecordingFilter) -> Select[*_Ts]:
    if f.since is not None:
        stmt = stmt.where(Recording.started_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Recording.started_at < f.until)
    if f.agent:
        stmt = stmt.where(Recording.agent.in_(agent_forms(f.agent)))
    if f.callers:
        stmt = stmt.where(Recording.caller_number.in_(f.callers))
    if f.order_id:
        stmt = stmt.where(Recording.order_id == f.order_id)
    if f.queue:
        stmt = stmt.where(Recording.queue == f.queue)
    if f.direction:
        stmt = stmt.where(Recording.direction == f.direction)
    if f.min_duration_s is not None:
        stmt = stmt.where(Recording.duration_s >= f.min_duration_s)
    if f.reviewed is not None:
        clause = reviewed_clause()
        stmt = stmt.where(clause if f.reviewed else ~clause)
    if f.status:
        stmt = stmt.where(Recording.status == f.status)
    return stmt


def _maybe_taken_by(extension: str, live: Iterable[str]) -> ColumnElement[bool]:
    """Recordings of calls the agent may have taken: a superset, narrowed exactly later.

    Stored calls whose agent or an ``answered`` event mentions the extension (the
    exact rule, :func:`cti.calls.service.answered_by`, runs in Python on these), and
    the calls in memory the agent took.
    """
    mentioned = or_(
        CallRecord.agent.contains(extension, autoescape=True),
        exists(
            select(CallEventRecord.id).where(
                CallEventRecord.call_id == CallRecord.id,
                CallEventRecord.type == DomainEventType.ANSWERED.value,
                cast(CallEventRecord.data, String).contains(extension, autoescape=True),
            )
        ),
    )
    stored = select(CallRecord.linkedid).where(mentioned)
    return or_(Recording.linkedid.in_(stored), Recording.linkedid.in_(list(live)))


_NEWEST_FIRST = (Recording.started_at.desc(), Recording.id.desc())


async def list_recordings(
    session: AsyncSession,
    f: RecordingFilter,
    *,
    limit: int,
    offset: int,
    own: tuple[str, LiveCallAgents] | None = None,
) -> tuple[list[RecordingOut], int]:
    """A page of recordings, newest first, and how many match in all.

    ``own``: an agent's extension and the calls in memory; only the recordings of calls
    that agent took. Those are narrowed in Python (the rule reads the calls' timelines),
    so an agent's search reads all of its own matching rows: the calls one agent took.
    """
    stmt = _filtered(select(Recording, reviewed_clause().label("reviewed")), f)
    if own is None:
        total = (
            await session.execute(_filtered(select(func.count()).select_from(Recording), f))
        ).scalar_one()
        rows = (
            await session.execute(stmt.order_by(*_NEWEST_FIRST).limit(limit).offset(offset))
        ).all()
        return [recording_out(r.Recording, bool(r.reviewed)) for r in rows], int(total)
    extension, live = own
    stmt = stmt.where(_maybe_taken_by(extension, live.taken_by(extension)))
    candidates = (await session.execute(stmt.order_by(*_NEWEST_FIRST))).all()
    agents = await calls_agents(session, live, (r.Recording.linkedid for r in candidates))
    mine = [r for r in candidates if extension in agents.get(r.Recording.linkedid, ())]
    page = mine[offset : offset + limit]
    return [recording_out(r.Recording, bool(r.reviewed)) for r in page], len(mine)


def _spans(raw: Any) -> list[PausedSpan]:
    spans: list[PausedSpan] = []
    for span in raw if isinstance(raw, list) else ():
        if isinstance(span, dict) and isinstance(span.get("start_s"), int | float):
            end = span.get("end_s")
            end_s = end if isinstance(end, int | float) else None
            spans.append(PausedSpan(start_s=span["start_s"], end_s=end_s))
    return spans


def recording_out(row: Recording, reviewed: bool) -> RecordingOut:
    return RecordingOut(
        id=row.public_id,
        call_id=row.linkedid,
        segment=row.segment,
        caller_number=row.caller_number,
        agent=row.agent,
        queue=row.queue,
        direction=row.direction,
        order_id=row.order_id,
        started_at=row.started_at,
        duration_s=row.duration_s,
        size_bytes=row.size_bytes,
        format=row.format,
        channels=row.channels,
        sha256=row.sha256,
        paused_spans=_spans(row.paused_spans),
        status=row.status,
        reviewed=reviewed,
    )


async def get_recording(session: AsyncSession, public_id: str) -> tuple[Recording, bool] | None:
    """The catalog row of ``public_id`` (any status) and whether it is reviewed."""
    row = (
        await session.execute(
            select(Recording, reviewed_clause().label("reviewed")).where(
                Recording.public_id == public_id
            )
        )
    ).one_or_none()
    return None if row is None else (row.Recording, bool(row.reviewed))


# --- recordings being written --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A recording a call's timeline says was started."""

    public_id: str
    segment: int
    file: str
    started_at: datetime
    channel: str | None


def _started(
    timeline: Iterable[DomainEvent | CallEventOut],
) -> list[tuple[float, dict[str, Any]]]:
    """The RECORDING_STARTED events' times and data, in order of time (stable)."""
    out: list[tuple[float, dict[str, Any]]] = []
    for event in timeline:
        if isinstance(event, DomainEvent):
            if event.type is DomainEventType.RECORDING_STARTED:
                out.append((event.timestamp, event.data))
        elif event.type == DomainEventType.RECORDING_STARTED.value:
            out.append((event.at.timestamp(), event.data))
    return sorted(out, key=lambda started: started[0])


def segments_of(
    key: bytes, linkedid: str, timeline: Iterable[DomainEvent | CallEventOut]
) -> list[Segment]:
    """The call's recordings from its timeline: each file once, numbered in order of start,
    as the tracker lists them (``CallSummary.recordings``) and the catalog numbers them."""
    # TODO(lead): after merging rec-catalog, cti.recordings.segments.recorded_files is
    # the one rule for numbering; use it here.
    files: dict[str, Segment] = {}
    for at, data in _started(timeline):
        file = data.get("file")
        if not isinstance(file, str) or not file or file in files:
            continue
        n = len(files) + 1
        channel = data.get("channel")
        files[file] = Segment(
            public_id=recording_id(key, linkedid, n),
            segment=n,
            file=file,
            started_at=utc(at),
            channel=channel if isinstance(channel, str) else None,
        )
    return list(files.values())


def channel_extension(channel: str | None) -> str | None:
    """``PJSIP/1001-0000002a`` -> ``1001``: the agent on whose channel it records."""
    return extension_of(interface_of(channel)) if channel else None


class LiveTimelines(LiveCallAgents, Protocol):
    """:class:`cti.calls.live.LiveCalls`, as far as recordings need it."""

    def timelines(self) -> Sequence[tuple[str, Sequence[DomainEvent]]]: ...


@dataclass(frozen=True, slots=True)
class BeingWritten:
    linkedid: str | None
    """The call, when known (a catalog job may not say)."""


async def _queued_jobs(session: AsyncSession, public_ids: Sequence[str]) -> dict[str, Job]:
    if not public_ids:
        return {}
    keys = {job_key(p): p for p in public_ids}
    rows = await session.execute(
        select(Job).where(
            Job.key.in_(list(keys)),
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
    )
    return {keys[job.key]: job for job in rows.scalars()}


async def being_written(
    session: AsyncSession, key: bytes, live: LiveTimelines, public_id: str
) -> BeingWritten | None:
    """Is ``public_id`` a recording not catalogued yet: a segment of a call in memory, or
    one whose catalog job is queued or running?"""
    for linkedid, timeline in live.timelines():
        if any(s.public_id == public_id for s in segments_of(key, linkedid, timeline)):
            return BeingWritten(linkedid)
    job = (await _queued_jobs(session, [public_id])).get(public_id)
    if job is None:
        return None
    call: object = job.payload.get("linkedid") if isinstance(job.payload, dict) else None
    return BeingWritten(call if isinstance(call, str) else None)


async def call_recordings(
    session: AsyncSession,
    key: bytes,
    linkedid: str,
    timeline: Sequence[DomainEvent | CallEventOut],
    *,
    live: bool,
) -> list[CallRecordingOut]:
    """A call's catalogued recordings, and those still being written (status "recording":
    every uncatalogued one of a call in progress, else those whose catalog job is pending),
    in segment order."""
    rows = (
        await session.execute(
            select(Recording).where(Recording.linkedid == linkedid).order_by(Recording.segment)
        )
    ).scalars()
    out = {
        r.segment: CallRecordingOut(
            id=r.public_id,
            segment=r.segment,
            agent=r.agent,
            started_at=r.started_at,
            duration_s=r.duration_s,
            status=r.status,
        )
        for r in rows
    }
    pending = [s for s in segments_of(key, linkedid, timeline) if s.segment not in out]
    if not live:
        jobs = await _queued_jobs(session, [s.public_id for s in pending])
        pending = [s for s in pending if s.public_id in jobs]
    for s in pending:
        out[s.segment] = CallRecordingOut(
            id=s.public_id,
            segment=s.segment,
            agent=channel_extension(s.channel),
            started_at=s.started_at,
            duration_s=None,
            status=RECORDING_STATUS,
        )
    return [out[n] for n in sorted(out)]


# --- deletion -----------------------------------------------------------------------------


async def delete_recording(
    session: AsyncSession, store: RecordingStore, row: Recording, now: datetime
) -> None:
    """Delete the recording's file, then mark its row ``deleted`` (flushed; the caller
    commits). A file already gone is fine. Raises :class:`OutsideRoot` for a row whose
    path leads outside the root (nothing deleted), OSError when the file stays (row kept).
    """
    # TODO(lead): the same as rec-catalog's cti.recordings.retention.delete_recording;
    # after the merge, import that one and drop this.
    path = store.path_of(row.path)
    await asyncio.to_thread(path.unlink, missing_ok=True)
    row.status = RecordingStatus.DELETED.value
    row.deleted_at = now
    await session.flush()


async def remove_recording(
    session: AsyncSession, store: RecordingStore, row: Recording, now: datetime
) -> None:
    """``DELETE``: :func:`delete_recording` once; a row already deleted stays as it is."""
    if row.status == RecordingStatus.DELETED.value:
        return
    try:
        await delete_recording(session, store, row, now)
    except OutsideRoot:
        # Only a tampered or corrupted row: no file of ours to delete, and the row stays
        # for ``cti recordings check`` to report.
        raise Gone("the recording's file is not in the recordings root; nothing deleted") from None
