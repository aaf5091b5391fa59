"""Retention: recordings older than ``CTI_RECORDINGS_RETENTION_DAYS`` are deleted, daily.

A ``recordings.retention`` job per day (key ``retention:<YYYY-MM-DD>``) is
submitted at start and by an hourly ticker (:func:`schedule_retention`); the
key makes it one run a day whoever submits it. For each old recording the file
is deleted first, then its row is marked ``deleted`` in the job's own
transaction: a crash in between leaves a row whose file is already gone, which
the next run marks (a missing file is no error). So a row never outlives its
file for longer than one run, and no file is ever left without its row.

Only catalogued recordings are touched: voicemail messages and anything else
under the root are not in the catalog and never deleted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clock import Clock
from cti.fsutil import fsync_dir
from cti.jobs.daily import submit_daily
from cti.jobs.errors import InvalidJob
from cti.jobs.runner import JobHandler
from cti.jobs.service import enqueue
from cti.jobs.spool import JobSpool, Submitted
from cti.recordings.config import RecordingSettings
from cti.recordings.context import RecordingContext
from cti.recordings.metrics import RecordingMetrics
from cti.recordings.models import Recording, RecordingStatus
from cti.recordings.store import OutsideRoot, RecordingStore

log = logging.getLogger(__name__)

RETENTION_JOB = "recordings.retention"
BATCH = 2000
"""Recordings one job deletes; more old ones continue in a follow-up job (``…:2``, ``…:3``)."""


class RetentionPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    day: date
    part: int = Field(default=1, ge=1)


def retention_key(day: date, part: int = 1) -> str:
    return f"retention:{day.isoformat()}" + (f":{part}" if part > 1 else "")


async def schedule_retention(
    spool: JobSpool, clock: Clock, settings: RecordingSettings, *, delay_s: float = 0.0
) -> Submitted | None:
    """Submit today's retention job (once a day by its key); nothing when retention is off.

    ``delay_s`` makes it due later (at start: the backlog of catalog jobs first).
    """
    if settings.retention_days == 0:
        return None
    return await submit_daily(
        spool, clock, RETENTION_JOB, payload=RetentionPayload, key=retention_key, delay_s=delay_s
    )


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        fsync_dir(path.parent)


async def delete_recording(
    session: AsyncSession, store: RecordingStore, row: Recording, now: datetime
) -> None:
    """Delete the recording's file, then mark its row ``deleted`` (flushed, not committed).

    The caller commits the mark: should that fail, the row still says
    ``available`` for a file that is gone, which the next delete or retention
    run (or ``cti recordings check``) settles. A file already gone is fine.
    Raises :class:`OutsideRoot` for a row whose path leads outside the root
    (nothing deleted) and OSError when the file cannot be deleted (row kept).
    """
    path = store.path_of(row.path)
    await asyncio.to_thread(_remove, path)
    row.status = RecordingStatus.DELETED.value
    row.deleted_at = now
    await session.flush()


def retention_handler(
    ctx: RecordingContext,
    clock: Clock,
    metrics: RecordingMetrics | None = None,
    *,
    batch: int = BATCH,
) -> JobHandler:
    async def apply_retention(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            run = RetentionPayload.model_validate(payload)
        except ValidationError:
            raise InvalidJob("retention payload unusable") from None
        days = ctx.settings.retention_days
        if days == 0:
            return
        now = clock.now()
        old = list(
            (
                await session.execute(
                    select(Recording)
                    .where(
                        Recording.status == RecordingStatus.AVAILABLE.value,
                        Recording.started_at < now - timedelta(days=days),
                    )
                    .order_by(Recording.started_at, Recording.id)
                    .limit(batch + 1)
                    # A DELETE through the API at the same moment waits for, or skips, us.
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        deleted = failed = 0
        for row in old[:batch]:
            try:
                await delete_recording(session, ctx.store, row, now)
            except (OSError, OutsideRoot) as exc:
                # Kept, row and file, until a later run can delete both.
                failed += 1
                log.error("retention: recording %s kept: %s", row.public_id, exc)
                if metrics is not None:
                    metrics.delete_failures.inc()
                continue
            deleted += 1
        if metrics is not None and deleted:
            metrics.deleted.labels("retention").inc(deleted)
        more = len(old) > batch and deleted > 0
        if more:
            await enqueue(
                session,
                kind=RETENTION_JOB,
                key=retention_key(run.day, run.part + 1),
                payload=RetentionPayload(day=run.day, part=run.part + 1).model_dump(mode="json"),
                now=now,
            )
        log.info(
            "retention (%d days): %d recording(s) deleted, %d kept after errors%s",
            days,
            deleted,
            failed,
            ", more follow" if more else "",
        )

    return apply_retention
