"""Cataloguing a recording as a durable job: one row per complete file, exactly once.

When a call ends, :mod:`cti.recordings.subscribers` submits one
``recordings.catalog`` job per recording (key ``recording:<public id>``, which
the API looks up to say "still being finalised"). The handler waits for
Asterisk to close the files (without spending attempts), brings them to the
stored format (:mod:`cti.recordings.finalise`) and inserts the row in the job's
own transaction. Every step checks what is already done, so a crash anywhere is
finished by the next attempt and never makes a second row.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clock import Clock
from cti.jobs.errors import InvalidJob, RetryLater
from cti.jobs.runner import JobHandler
from cti.jobs.spool import JobSpool, Submitted
from cti.recordings.audio import DEFAULT_TOOL_TIMEOUT_S, AudioError, AudioToolError
from cti.recordings.context import RecordingContext
from cti.recordings.finalise import (
    Finalised,
    NotReady,
    RecordingFileError,
    RecordingFiles,
    check_settled,
    finalise,
)
from cti.recordings.metrics import RecordingMetrics
from cti.recordings.models import PATH_MAX, PUBLIC_ID_MAX, Recording, RecordingStatus
from cti.recordings.store import OutsideRoot

log = logging.getLogger(__name__)

CATALOG_JOB = "recordings.catalog"
PATIENCE_S = 900.0
"""After the call's end, how long a file may stay missing or open before it is a failure.

Asterisk closes a MixMonitor file within moments of the hang-up; a quarter of an
hour covers a slow network mount. After that the job fails (and is retried with
backoff, then dead, for ``cti jobs list`` to show).
"""


class PausedSpan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class CatalogPayload(BaseModel):
    """The job's payload: what the call's timeline says about one recording."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    public_id: str = Field(min_length=1, max_length=PUBLIC_ID_MAX)
    linkedid: str = Field(min_length=1, max_length=64)
    segment: int = Field(ge=1, le=10_000)
    file: str = Field(min_length=1, max_length=PATH_MAX * 2)
    """``MIXMONITOR_FILENAME``: Asterisk's path, mapped through the store, never trusted."""
    uniqueid: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=200)
    caller_number: str | None = Field(default=None, max_length=64)
    agent: str | None = Field(default=None, max_length=80)
    queue: str | None = Field(default=None, max_length=80)
    direction: Literal["inbound", "outbound"] = "inbound"
    order_id: str | None = Field(default=None, max_length=64)
    started_at: float
    """Epoch seconds, Asterisk's clock: when this segment's recording started."""
    ended_at: float
    """Epoch seconds, Asterisk's clock: when the call ended."""
    paused_spans: list[PausedSpan] = Field(default_factory=list, max_length=1000)


def catalog_key(public_id: str) -> str:
    return f"recording:{public_id}"


async def submit_catalog(spool: JobSpool, payload: CatalogPayload, *, settle_s: float) -> Submitted:
    """Save the catalog job durably, due once Asterisk should have closed the file."""
    due = datetime.fromtimestamp(payload.ended_at + settle_s, UTC)
    return await spool.submit(
        CATALOG_JOB,
        payload.model_dump(mode="json"),
        catalog_key(payload.public_id),
        run_after=due,
    )


async def already_catalogued(
    session: AsyncSession, *, public_id: str, linkedid: str, segment: int, paths: tuple[str, ...]
) -> bool:
    found = await session.execute(
        select(Recording.id)
        .where(
            or_(
                Recording.public_id == public_id,
                (Recording.linkedid == linkedid) & (Recording.segment == segment),
                Recording.path.in_(paths),
            )
        )
        .limit(1)
    )
    return found.first() is not None


def recording_row(facts: CatalogPayload, done: Finalised, *, now: datetime) -> Recording:
    return Recording(
        public_id=facts.public_id,
        linkedid=facts.linkedid,
        segment=facts.segment,
        uniqueid=facts.uniqueid,
        path=done.relative,
        caller_number=facts.caller_number,
        agent=facts.agent,
        queue=facts.queue,
        direction=facts.direction,
        order_id=facts.order_id,
        started_at=datetime.fromtimestamp(facts.started_at, UTC),
        duration_s=done.duration_s,
        size_bytes=done.size_bytes,
        format=done.format,
        channels=done.channels,
        sha256=done.sha256,
        paused_spans=[span.model_dump() for span in facts.paused_spans],
        status=RecordingStatus.AVAILABLE.value,
        created_at=now,
        deleted_at=None,
    )


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, InvalidJob):
        return "outside_root" if isinstance(exc.__cause__, OutsideRoot) else "invalid"
    if isinstance(exc, NotReady):
        return "incomplete"
    if isinstance(exc, AudioToolError):
        return "tool"
    if isinstance(exc, AudioError | RecordingFileError):
        return "unreadable"
    return "error"


def catalog_handler(
    ctx: RecordingContext,
    clock: Clock,
    metrics: RecordingMetrics | None = None,
    *,
    tool_timeout_s: float = DEFAULT_TOOL_TIMEOUT_S,
) -> JobHandler:
    """The ``recordings.catalog`` job handler.

    The job runner cuts a handler off at the end of its lease
    (``CTI_JOBS_LEASE_S``), children included: the lease must cover encoding
    the longest call (see README, "Recordings: disk per hour of talk").
    """
    settings = ctx.settings

    async def catalog(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            facts = CatalogPayload.model_validate(payload)
        except ValidationError as exc:
            bad = exc.error_count()
            raise InvalidJob(f"catalog payload unusable: {bad} bad field(s)") from None
        try:
            files = RecordingFiles.of_asterisk(ctx.store, facts.file)
        except OutsideRoot as exc:
            log.error("recording %s not catalogued: %s", facts.public_id, exc)
            raise InvalidJob(str(exc)) from exc
        except ValueError as exc:
            log.error("recording %s not catalogued: %s", facts.public_id, exc)
            raise InvalidJob(str(exc)) from None
        if await already_catalogued(
            session,
            public_id=facts.public_id,
            linkedid=facts.linkedid,
            segment=facts.segment,
            paths=files.catalog_paths,
        ):
            return
        try:
            await asyncio.to_thread(
                check_settled, files, now=clock.time(), settle_s=settings.settle_s
            )
        except NotReady as exc:
            if clock.time() < facts.ended_at + PATIENCE_S:
                raise RetryLater(str(exc), max(1.0, settings.settle_s)) from None
            raise NotReady(f"{exc} {PATIENCE_S:g} s after the call ended") from None
        done = await finalise(
            files,
            stored_format=settings.format,
            opus_bitrate_kbps=settings.opus_bitrate_kbps,
            tool_timeout_s=tool_timeout_s,
        )
        session.add(recording_row(facts, done, now=clock.now()))
        await session.flush()
        if metrics is not None:
            metrics.catalogued.inc()
        log.info(
            "recording %s catalogued: %s, %.1f s, %d bytes",
            facts.public_id,
            done.relative,
            done.duration_s,
            done.size_bytes,
        )

    async def catalog_recording(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            await catalog(session, payload)
        except RetryLater:
            raise
        except Exception as exc:
            if metrics is not None:
                metrics.catalog_failed(_failure_reason(exc))
            raise

    return catalog_recording
