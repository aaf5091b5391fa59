"""Recordings left behind by a service that stopped without cataloguing them.

A call's recordings are catalogued when the service sees the call end. A call that
ended while the service was not running (``kill -9``, a crash, a restart) leaves its
files with no row and no catalog job, and nothing else would ever list them. At
start a ``recordings.left_behind`` job catalogs the files last written between the
previous run's last sign of life (``cti.app`` touches a file in the data directory)
and this start that have neither a row nor a catalog job, as
``cti recordings check --repair`` would (facts from the stored call when there is
one, else from the file). A first start (no sign of an earlier run) has nothing to do.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clock import Clock
from cti.customers.phones import PhoneNormalizer
from cti.jobs.errors import InvalidJob
from cti.jobs.runner import JobHandler
from cti.jobs.spool import JobSpool, Submitted
from cti.recordings.check import (
    CallLookup,
    FoundFile,
    catalog_orphan,
    stems_with_jobs,
    still_open,
    walk_root,
)
from cti.recordings.context import RecordingContext
from cti.recordings.metrics import RecordingMetrics
from cti.recordings.models import Recording

log = logging.getLogger(__name__)

LEFT_BEHIND_JOB = "recordings.left_behind"
MAX_DAYS = 7
"""A longer downtime is left to ``cti recordings check --repair``."""
MAX_FILES = 500
"""Files one run catalogs; more are left to ``cti recordings check --repair``."""


class LeftBehindPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    since: float
    """Epoch seconds: the previous run's last sign of life, less a margin."""
    before: float
    """Epoch seconds: when this run started. Files last written in between are judged."""


async def schedule_left_behind(
    spool: JobSpool, *, since: float, before: float, owner: str
) -> Submitted:
    """At start: look for recordings closed while no service ran that nobody catalogued."""
    payload = LeftBehindPayload(since=since, before=before).model_dump(mode="json")
    return await spool.submit(LEFT_BEHIND_JOB, payload, f"left-behind:{owner}:{before:.6f}")


def dates_between(since: float, before: float) -> set[str]:
    """``YYYYMMDD`` of the days from ``since`` to ``before``, a day more each side
    (Asterisk names its folders in its own time zone), at most :data:`MAX_DAYS`."""
    first = datetime.fromtimestamp(max(since, before - MAX_DAYS * 86400), UTC) - timedelta(days=1)
    last = datetime.fromtimestamp(before, UTC) + timedelta(days=1)
    return {(first + timedelta(days=d)).strftime("%Y%m%d") for d in range((last - first).days + 1)}


async def left_behind(
    session: AsyncSession, ctx: RecordingContext, *, since: float, before: float
) -> list[FoundFile]:
    """Recording files last written from ``since`` to ``before`` with no row, no catalog job."""
    dates = dates_between(since, before)
    files = await asyncio.to_thread(walk_root, ctx.store.local_root, dates)
    files = [f for f in files if since <= f.mtime < before]
    if not files:
        return []
    paths = [p for f in files for p in (f"{f.stem}.wav", f"{f.stem}.opus")]
    listed = {
        path.rpartition(".")[0]
        for path in (
            await session.execute(select(Recording.path).where(Recording.path.in_(paths)))
        ).scalars()
    }
    busy = await stems_with_jobs(session, ctx)
    out: list[FoundFile] = []
    for found in files:
        if found.stem in listed or found.stem in busy:
            continue
        if await asyncio.to_thread(still_open, ctx.store.local_root / found.relative):
            continue  # Asterisk still writes it (or died writing it): its call may be live
        out.append(found)
    return out


def left_behind_handler(
    ctx: RecordingContext,
    clock: Clock,
    *,
    lookup: CallLookup,
    phones: PhoneNormalizer,
    metrics: RecordingMetrics | None = None,
) -> JobHandler:
    async def catalog_left_behind(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            run = LeftBehindPayload.model_validate(payload)
        except ValidationError:
            raise InvalidJob("left-behind payload unusable") from None
        found = await left_behind(session, ctx, since=run.since, before=run.before)
        done = 0
        for file in found[:MAX_FILES]:
            try:
                async with session.begin_nested():
                    row = await catalog_orphan(
                        session, ctx, file, lookup=lookup, phones=phones, now=clock.now()
                    )
            except Exception as exc:
                log.error("recording file %s left without a row: %s", file.relative, exc)
                if metrics is not None:
                    metrics.catalog_failed("error")
                continue
            done += 1
            if metrics is not None:
                metrics.catalogued.inc()
            log.warning(
                "recording %s catalogued after a restart: %s (its call ended while the "
                "service was not running)",
                row.public_id,
                file.relative,
            )
        if len(found) > MAX_FILES:
            log.error(
                "%d more recording files without a row; run `cti recordings check --repair`",
                len(found) - MAX_FILES,
            )
        if found:
            log.info("recordings left behind: %d found, %d catalogued", len(found), done)

    return catalog_left_behind
