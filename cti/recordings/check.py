"""``cti recordings check``: the catalog and the recordings root, compared both ways.

Reported:

* **unlisted**: a recording file (``<YYYYMMDD>/<linkedid>-<uniqueid>.wav|.opus``)
  without a row; ``--repair`` catalogs it (facts from its name, its audio and the
  call's stored timeline when the call is there);
* **leftover**: a file whose recording is catalogued under another file (a WAV
  left beside its Opus) or whose row says it was deleted; ``--repair`` deletes it;
* **missing**: an ``available`` row whose file is gone; ``--repair`` marks it
  ``missing``;
* **returned**: a ``missing`` row whose file is back; ``--repair`` makes it
  ``available`` again when its SHA-256 is the catalogued one.

Never looked at: voicemail messages (other names, ``voicemail`` folders), leg
files and temporary files (other names), files changed within the grace period
(a catalog job may be on its way), WAVs still open (header not final) younger
than a day, and files whose catalog job is queued or running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.customers.phones import PhoneNormalizer
from cti.jobs.models import Job, JobStatus
from cti.recordings.audio import (
    DEFAULT_TOOL_TIMEOUT_S,
    AudioError,
    finish_wav_header,
    read_wav,
    sha256_file,
)
from cti.recordings.catalog import CATALOG_JOB
from cti.recordings.context import RecordingContext
from cti.recordings.finalise import RecordingFiles, finalise
from cti.recordings.ids import recording_id
from cti.recordings.models import Recording, RecordingStatus
from cti.recordings.segments import Segment, TimelineEvent, recorded_files, segments
from cti.recordings.store import OutsideRoot

log = logging.getLogger(__name__)

RECORDING_NAME = re.compile(
    r"^(?P<linkedid>\d{1,20}\.\d{1,10})-(?P<uniqueid>\d{1,20}\.\d{1,10})\.(?P<ext>wav|opus)$"
)
"""The dialplan's ``${LINKEDID}-${UNIQUEID}.wav`` (Asterisk without ``systemname``)."""
DATE_FOLDER = re.compile(r"^\d{8}$")
SKIPPED_FOLDERS = frozenset({"voicemail"})
DEFAULT_GRACE_S = 900.0
OPEN_FILE_GRACE_S = 86400.0
"""A WAV whose header is not final is taken for a call in progress for this long."""


@dataclass(frozen=True, slots=True)
class FoundFile:
    relative: str
    linkedid: str
    uniqueid: str
    mtime: float
    size: int

    @property
    def stem(self) -> str:
        return self.relative.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class RowRef:
    id: int
    public_id: str
    path: str
    status: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Leftover:
    file: FoundFile
    why: str
    removable: bool
    """False when deleting it could lose audio (its recording's own file is not there)."""


@dataclass(slots=True)
class CheckReport:
    unlisted: list[FoundFile] = field(default_factory=list)
    leftover: list[Leftover] = field(default_factory=list)
    missing: list[RowRef] = field(default_factory=list)
    returned: list[RowRef] = field(default_factory=list)
    files_seen: int = 0
    rows_seen: int = 0
    skipped: int = 0
    """Files not judged: too young, still open, or with a catalog job on its way."""

    @property
    def clean(self) -> bool:
        return not (self.unlisted or self.leftover or self.missing or self.returned)


@dataclass(slots=True)
class RepairResult:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class StoredEvent(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


class StoredCall(Protocol):
    """What :func:`cti.calls.service.get_call` returns, as far as the repair needs it."""

    @property
    def caller_number(self) -> str | None: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def timeline(self) -> Sequence[StoredEvent]: ...


CallLookup = Callable[[AsyncSession, str], Awaitable[StoredCall | None]]


# --- looking ------------------------------------------------------------------------------


def walk_root(root: Path, dates: Collection[str] | None = None) -> list[FoundFile]:
    """Every recording file below ``root``: regular files named as the dialplan names them.

    ``dates`` (``YYYYMMDD``): only the date folders of those days are read.
    """
    found: list[FoundFile] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIPPED_FOLDERS
            and (dates is None or d in dates or not DATE_FOLDER.match(d))
        ]
        if not DATE_FOLDER.match(os.path.basename(folder)):
            continue
        for name in names:
            match = RECORDING_NAME.match(name)
            if match is None:
                continue
            path = Path(folder, name)
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue  # a symbolic link is never a recording of ours
            found.append(
                FoundFile(
                    relative=path.relative_to(root).as_posix(),
                    linkedid=match["linkedid"],
                    uniqueid=match["uniqueid"],
                    mtime=st.st_mtime,
                    size=st.st_size,
                )
            )
    return sorted(found, key=lambda f: f.relative)


def still_open(path: Path) -> bool:
    if path.suffix != ".wav":
        return False
    try:
        return not read_wav(path).complete
    except (OSError, AudioError):
        return False


async def stems_with_jobs(session: AsyncSession, ctx: RecordingContext) -> set[str]:
    rows = await session.execute(
        select(Job.payload).where(
            Job.kind == CATALOG_JOB,
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
    )
    stems: set[str] = set()
    for (payload,) in rows:
        file = payload.get("file") if isinstance(payload, dict) else None
        if isinstance(file, str):
            with contextlib.suppress(OutsideRoot):
                stems.add(ctx.store.relative_of_asterisk(file).rpartition(".")[0])
    return stems


def _exists(ctx: RecordingContext, relative: str) -> bool:
    try:
        return ctx.store.path_of(relative).is_file()
    except OutsideRoot:
        return False


async def scan(
    session: AsyncSession,
    ctx: RecordingContext,
    *,
    now: float,
    grace_s: float = DEFAULT_GRACE_S,
) -> CheckReport:
    report = CheckReport()
    files = await asyncio.to_thread(walk_root, ctx.store.local_root)
    on_disk = {f.relative for f in files}
    busy = await stems_with_jobs(session, ctx)
    rows = [
        RowRef(*r)
        for r in await session.execute(
            select(
                Recording.id,
                Recording.public_id,
                Recording.path,
                Recording.status,
                Recording.sha256,
            ).where(Recording.status != RecordingStatus.DELETED.value)
        )
    ]
    deleted = set(
        (
            await session.execute(
                select(Recording.path).where(Recording.status == RecordingStatus.DELETED.value)
            )
        ).scalars()
    )
    report.rows_seen = len(rows)
    by_path = {r.path: r for r in rows}
    catalogued_stems = {r.path.rpartition(".")[0]: r for r in rows}

    def present(relative: str) -> bool:
        return relative in on_disk or _exists(ctx, relative)

    intact: set[str] = set()
    for row in rows:
        there = await asyncio.to_thread(present, row.path)
        if row.status == RecordingStatus.AVAILABLE.value and not there:
            report.missing.append(row)
        elif row.status == RecordingStatus.MISSING.value and there:
            report.returned.append(row)
        elif there:
            intact.add(row.path)

    for found in files:
        report.files_seen += 1
        if found.relative in by_path:
            continue
        young = now - found.mtime < grace_s
        if young or found.stem in busy:
            report.skipped += 1
            continue
        local = ctx.store.local_root / found.relative
        if now - found.mtime < OPEN_FILE_GRACE_S and await asyncio.to_thread(still_open, local):
            report.skipped += 1
            continue
        if found.relative in deleted:
            report.leftover.append(Leftover(found, "its recording was deleted", True))
        elif (other := catalogued_stems.get(found.stem)) is not None:
            kept = other.path in intact
            why = f"recording {other.public_id} is {other.path}" + ("" if kept else " (gone)")
            report.leftover.append(Leftover(found, why, kept))
        else:
            report.unlisted.append(found)
    return report


# --- repairing ----------------------------------------------------------------------------


def _timeline(call: StoredCall) -> list[TimelineEvent]:
    return [TimelineEvent(e.type, e.at.timestamp(), e.data) for e in call.timeline]


def _segment_of(ctx: RecordingContext, call: StoredCall, stem: str) -> Segment | None:
    """The call's segment recorded in ``stem``'s files, from its stored timeline."""
    timeline = _timeline(call)
    ended = (call.ended_at or call.started_at).timestamp()
    found = segments(
        recorded_files(timeline),
        timeline,
        call_started=call.started_at.timestamp(),
        call_ended=ended,
    )
    for seg in found:
        with contextlib.suppress(OutsideRoot):
            if ctx.store.relative_of_asterisk(seg.file).rpartition(".")[0] == stem:
                return seg
    return None


async def _free_segment(session: AsyncSession, linkedid: str, wanted: int | None) -> int:
    taken = set(
        (
            await session.execute(select(Recording.segment).where(Recording.linkedid == linkedid))
        ).scalars()
    )
    if wanted is not None and wanted not in taken:
        return wanted
    return max(taken, default=0) + 1


async def catalog_orphan(
    session: AsyncSession,
    ctx: RecordingContext,
    found: FoundFile,
    *,
    lookup: CallLookup,
    phones: PhoneNormalizer,
    now: datetime,
    tool_timeout_s: float = DEFAULT_TOOL_TIMEOUT_S,
) -> Recording:
    """Catalog a file without a row, as the catalog job would have (flushed, not committed)."""
    files = RecordingFiles.of(ctx.store, found.relative)
    if found.relative.endswith(".wav") and await asyncio.to_thread(still_open, files.mix):
        # Asterisk never closed it (crash): the sizes it would have written at close.
        await asyncio.to_thread(finish_wav_header, files.mix)
    done = await finalise(
        files,
        stored_format=ctx.settings.format,
        opus_bitrate_kbps=ctx.settings.opus_bitrate_kbps,
        tool_timeout_s=tool_timeout_s,
    )
    call = await lookup(session, found.linkedid)
    seg = _segment_of(ctx, call, files.stem) if call is not None else None
    number = await _free_segment(session, found.linkedid, seg.segment if seg else None)
    if seg is not None:
        started = seg.started_at
    elif call is not None:
        started = call.started_at.timestamp()
    else:
        # No call, no timeline: the file was last written when the recording ended.
        started = found.mtime - done.duration_s
    caller = call.caller_number if call is not None else None
    row = Recording(
        public_id=recording_id(ctx.key, found.linkedid, number),
        linkedid=found.linkedid,
        segment=number,
        uniqueid=(seg.uniqueid if seg else None) or found.uniqueid,
        path=done.relative,
        caller_number=phones.e164(caller) or caller or None,
        agent=seg.agent if seg else None,
        queue=call.queue if call is not None else None,
        direction="inbound",
        order_id=None,
        started_at=datetime.fromtimestamp(started, UTC),
        duration_s=done.duration_s,
        size_bytes=done.size_bytes,
        format=done.format,
        channels=done.channels,
        sha256=done.sha256,
        paused_spans=seg.paused_spans if seg else [],
        status=RecordingStatus.AVAILABLE.value,
        created_at=now,
        deleted_at=None,
    )
    session.add(row)
    await session.flush()
    return row


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def repair(
    sessions: async_sessionmaker[AsyncSession],
    ctx: RecordingContext,
    report: CheckReport,
    *,
    lookup: CallLookup,
    phones: PhoneNormalizer,
    now: datetime,
) -> RepairResult:
    """Fix what :func:`scan` found, each fix in its own transaction (one failure stops none)."""
    result = RepairResult()
    for row in report.missing:
        async with sessions() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id == row.id, Recording.status == RecordingStatus.AVAILABLE.value)
                .values(status=RecordingStatus.MISSING.value)
            )
        result.done.append(f"{row.path}: row {row.public_id} marked missing")
    for row in report.returned:
        digest = await asyncio.to_thread(sha256_file, ctx.store.path_of(row.path))
        if digest != row.sha256:
            result.failed.append(
                f"{row.path}: file is back but is not the catalogued one (SHA-256 differs); "
                f"row {row.public_id} left missing"
            )
            continue
        async with sessions() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id == row.id, Recording.status == RecordingStatus.MISSING.value)
                .values(status=RecordingStatus.AVAILABLE.value)
            )
        result.done.append(f"{row.path}: file is back, row {row.public_id} available again")
    for left in report.leftover:
        if not left.removable:
            result.failed.append(f"{left.file.relative}: kept ({left.why}); check it by hand")
            continue
        await asyncio.to_thread(_remove, ctx.store.path_of(left.file.relative))
        result.done.append(f"{left.file.relative}: deleted ({left.why})")
    for found in report.unlisted:
        try:
            async with sessions() as session, session.begin():
                added = await catalog_orphan(
                    session, ctx, found, lookup=lookup, phones=phones, now=now
                )
        except Exception as exc:
            result.failed.append(f"{found.relative}: not catalogued: {type(exc).__name__}: {exc}")
            continue
        result.done.append(
            f"{found.relative}: catalogued as {added.public_id} (segment {added.segment}, "
            f"{added.duration_s:.1f} s, {added.format})"
        )
    return result
