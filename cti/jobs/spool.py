"""Written before acknowledged: a job goes to the table, or to local disk when it cannot.

A caller (the voicemail AGI app) is told "saved" only once the job is in the
database or in a file that survives a power cut. The runner moves spooled files
into the table when the database answers again; the idempotency key makes a
crash between that insert and the file's removal harmless.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import Clock
from cti.fsutil import fsync_dir
from cti.jobs.errors import describe
from cti.jobs.service import DEFAULT_MAX_ATTEMPTS, check_job, enqueue

log = logging.getLogger(__name__)

SUFFIX = ".job"
_TMP = ".tmp-"
_STALE_TMP_S = 600.0
"""A temporary file this old was left by a crash mid-write; its submit never returned."""
FORMAT = 1


def spool_dir(data_dir: Path) -> Path:
    """Where a service with this ``data_dir`` keeps jobs the database has not taken yet."""
    return data_dir / "spool" / "jobs"


def spooled_count(directory: Path) -> int:
    try:
        return sum(1 for _ in directory.glob(f"[!.]*{SUFFIX}"))
    except OSError:
        return 0


class JobNotSaved(Exception):
    """Neither the database nor the local disk took the job; the caller must not say "saved"."""


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: int | None
    """The job's row, or None when it waits in the spool."""
    created: bool
    """False when a job with the same key already existed."""
    spooled: Path | None = None


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    kind: str
    key: str
    payload: dict[str, Any]
    max_attempts: int
    at: datetime
    """When it was submitted: the job's creation time, even if it reaches the table later."""
    run_after: datetime | None = None
    """Not due before this (None: at once)."""

    @classmethod
    def parse(cls, raw: bytes) -> SpoolEntry:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a spooled job of format 1")
        kind, key, payload = data.get("kind"), data.get("key"), data.get("payload")
        attempts = data.get("max_attempts")
        if not (isinstance(kind, str) and isinstance(key, str) and isinstance(payload, dict)):
            raise ValueError("kind, key or payload missing")
        if not isinstance(attempts, int) or isinstance(attempts, bool):
            raise ValueError("max_attempts missing")
        at = datetime.fromisoformat(str(data.get("at")))
        if at.tzinfo is None:
            raise ValueError("submission time without a time zone")
        run_after: datetime | None = None
        if data.get("run_after") is not None:
            run_after = datetime.fromisoformat(str(data["run_after"]))
            if run_after.tzinfo is None:
                raise ValueError("run_after without a time zone")
        check_job(kind, key, payload, attempts)
        return cls(kind, key, payload, attempts, at, run_after)

    def dump(self) -> bytes:
        body = {
            "format": FORMAT,
            "kind": self.kind,
            "key": self.key,
            "payload": self.payload,
            "max_attempts": self.max_attempts,
            "at": self.at.isoformat(),
        }
        if self.run_after is not None:
            body["run_after"] = self.run_after.isoformat()
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode()


class JobSpool:
    """Submit jobs; keep them in ``directory`` while the database does not answer."""

    def __init__(
        self,
        directory: Path,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        db_timeout: float = 3.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.directory = directory
        self._sessions = sessions
        self._clock = clock
        self._db_timeout = db_timeout
        self._max_attempts = max_attempts
        self._stuck: set[Path] = set()
        """Corrupt files that could not be moved aside: told once, then skipped."""

    async def submit(
        self,
        kind: str,
        payload: Mapping[str, Any],
        key: str,
        *,
        max_attempts: int | None = None,
        run_after: datetime | None = None,
    ) -> Submitted:
        """Save the job in the table, or on disk if the database fails or is slow.

        ``run_after`` makes the job due later (a recording Asterisk is still closing).

        Raises ValueError/TypeError for a job that can never be stored (a bug in
        the caller), :class:`JobNotSaved` when the disk fails too.
        """
        attempts = self._max_attempts if max_attempts is None else max_attempts
        check_job(kind, key, payload, attempts)
        entry = SpoolEntry(kind, key, dict(payload), attempts, self._clock.now(), run_after)
        try:
            # A hung connection must not keep the caller (a call leg) waiting.
            async with asyncio.timeout(self._db_timeout):
                job_id, created = await self._insert(entry)
            return Submitted(job_id=job_id, created=created)
        except Exception as exc:
            reason = describe(exc)
        try:
            path = await asyncio.to_thread(self._write, entry)
        except OSError as exc:
            log.error("job %s (%s) NOT saved: database: %s; spool: %s", key, kind, reason, exc)
            raise JobNotSaved(f"job {key} not saved: database and local spool failed") from exc
        log.warning("job %s (%s) kept in %s: database not answering (%s)", key, kind, path, reason)
        return Submitted(job_id=None, created=True, spooled=path)

    async def _insert(self, entry: SpoolEntry) -> tuple[int, bool]:
        async with self._sessions() as session, session.begin():
            job, created = await enqueue(
                session,
                kind=entry.kind,
                key=entry.key,
                payload=entry.payload,
                now=entry.at,
                run_after=entry.run_after,
                max_attempts=entry.max_attempts,
            )
            return job.id, created

    def _write(self, entry: SpoolEntry) -> Path:
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_dir(self.directory.parent)
        # Time first, so a drain takes the oldest first; the key's hash keeps names apart.
        digest = hashlib.sha256(entry.key.encode()).hexdigest()[:24]
        stamp = int(self._clock.time() * 1_000_000)
        name = f"{stamp:020d}-{digest}-{secrets.token_hex(4)}{SUFFIX}"
        final = self.directory / name
        tmp = self.directory / f"{_TMP}{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                data = memoryview(entry.dump())
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        # The rename is durable only once the directory itself is on disk.
        fsync_dir(self.directory)
        return final

    def pending(self) -> int:
        """Jobs waiting on disk for the database."""
        return spooled_count(self.directory)

    async def drain(self) -> int:
        """Move spooled jobs into the table, oldest first; return how many.

        A database error stops the drain and is raised (the files stay for the
        next round). A file that cannot be read as a job is moved to
        ``corrupt/`` beside the spool, never retried, never fatal.
        """
        try:
            paths = await asyncio.to_thread(self._listing)
        except OSError as exc:
            log.error("cannot read the job spool %s: %s", self.directory, exc)
            return 0
        moved = 0
        for path in paths:
            if path in self._stuck:
                continue
            try:
                raw = await asyncio.to_thread(path.read_bytes)
            except FileNotFoundError:
                continue  # another drain (a second process on this data dir) took it
            try:
                entry = SpoolEntry.parse(raw)
            except (ValueError, TypeError) as exc:
                await asyncio.to_thread(self._set_aside, path, describe(exc))
                continue
            await self._insert(entry)
            await asyncio.to_thread(path.unlink, missing_ok=True)
            log.info("spooled job %s (%s) moved into the database", entry.key, entry.kind)
            moved += 1
        return moved

    def _listing(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        now = self._clock.time()
        for tmp in self.directory.glob(f"{_TMP}*"):
            try:
                if now - tmp.stat().st_mtime > _STALE_TMP_S:
                    tmp.unlink()
            except FileNotFoundError:
                pass
        return sorted(self.directory.glob(f"[!.]*{SUFFIX}"))

    def _set_aside(self, path: Path, reason: str) -> None:
        aside = self.directory.parent / "corrupt"
        try:
            aside.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.replace(path, aside / path.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("spooled job %s is corrupt (%s) and cannot be moved: %s", path, reason, exc)
            self._stuck.add(path)
            return
        log.error(
            "spooled job %s is corrupt (%s); moved to %s for a person to look at",
            path.name,
            reason,
            aside / path.name,
        )
