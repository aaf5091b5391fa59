"""The job runner: one asyncio task that drains the spool, leases due jobs, runs handlers.

A handler runs in the transaction that marks its job done, so a job whose
effect is in our database (a callback ticket) and its completion commit
together: a crash in between leaves neither, and the retry does it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import Clock
from cti.jobs.errors import InvalidJob, RetryLater, describe
from cti.jobs.models import Job, JobStatus
from cti.jobs.service import Backoff, complete, fail, hold, lease, postpone
from cti.jobs.spool import JobSpool

log = logging.getLogger(__name__)

JobHandler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


class LeaseLost(Exception):
    """Another worker took the job back while its handler ran; this run is rolled back."""


def default_owner() -> str:
    """Names the worker in the table: host, process, and a tag telling restarts apart."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        handlers: Mapping[str, JobHandler] | None = None,
        spool: JobSpool | None = None,
        owner: str | None = None,
        poll_interval: float = 1.0,
        lease_seconds: float = 60.0,
        batch: int = 20,
        backoff: Backoff | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._handlers: dict[str, JobHandler] = dict(handlers or {})
        self._spool = spool
        self.owner = owner or default_owner()
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.backoff = backoff or Backoff()
        self._backoffs: dict[str, Backoff] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def register(self, kind: str, handler: JobHandler, *, backoff: Backoff | None = None) -> None:
        """Run ``kind``'s jobs with ``handler``; ``backoff`` replaces the runner's for this kind.

        A kind whose retries must outlast a long outage (webhooks to a shop that is
        down for hours) waits longer between attempts than a local job does; how many
        attempts a job gets is its own (``max_attempts`` when it is enqueued).
        """
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler
        if backoff is not None:
            self._backoffs[kind] = backoff

    def backoff_for(self, kind: str) -> Backoff:
        return self._backoffs.get(kind, self.backoff)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    async def run_once(self) -> int:
        """Drain the spool, then run up to ``batch`` due jobs; return how many ran.

        Database errors are raised (the loop logs them and tries again later).
        """
        if self._spool is not None:
            await self._spool.drain()
        ran = 0
        while ran < self.batch and not self._stopping.is_set():
            job = await self._lease_one()
            if job is None:
                break
            await self._run(job)
            ran += 1
        return ran

    async def _lease_one(self) -> Job | None:
        if not self._handlers:
            return None
        async with self._sessions() as session, session.begin():
            jobs = await lease(
                session,
                owner=self.owner,
                now=self._clock.now(),
                lease_for=timedelta(seconds=self.lease_seconds),
                kinds=self.kinds,
                limit=1,
            )
        return jobs[0] if jobs else None

    async def _run(self, job: Job) -> None:
        handler = self._handlers[job.kind]
        try:
            async with self._sessions() as session, session.begin():
                if not await hold(session, job_id=job.id, owner=self.owner):
                    log.warning("job %d (%s): lease taken back before it ran", job.id, job.kind)
                    return
                # The handler must not outlive its lease, or a second worker could run it too.
                async with asyncio.timeout(self.lease_seconds):
                    await handler(session, dict(job.payload))
                done = await complete(
                    session, job_id=job.id, owner=self.owner, now=self._clock.now()
                )
                if not done:
                    raise LeaseLost(f"job {job.id} was taken back while it ran")
        except LeaseLost:
            log.warning("job %d (%s): lease taken back while it ran; undone", job.id, job.kind)
            return
        except RetryLater as later:
            await self._postponed(job, later)
            return
        except Exception as exc:
            await self._failed(job, exc)
            return
        log.info("job %d (%s) done after %d attempt(s)", job.id, job.kind, job.attempts)

    async def _postponed(self, job: Job, later: RetryLater) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            after = await postpone(
                session,
                job_id=job.id,
                owner=self.owner,
                run_after=now + timedelta(seconds=later.after_s),
                note=f"not yet: {describe(later).removeprefix('RetryLater: ')}",
                now=now,
            )
        if after is None:
            log.warning("job %d (%s): lease taken back before it was postponed", job.id, job.kind)
        else:
            log.debug("job %d (%s) postponed %g s: %s", job.id, job.kind, later.after_s, later)

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = describe(exc)
        if isinstance(exc, TimeoutError):
            error = f"{error} (handler ran past its lease of {self.lease_seconds:g} s)"
        async with self._sessions() as session, session.begin():
            after = await fail(
                session,
                job_id=job.id,
                owner=self.owner,
                error=error,
                now=self._clock.now(),
                backoff=self.backoff_for(job.kind),
                permanent=isinstance(exc, InvalidJob),
            )
        if after is None:
            log.warning(
                "job %d (%s) failed after its lease was taken back: %s", job.id, job.kind, error
            )
        elif after.status == JobStatus.DEAD.value:
            log.error(
                "job %d (%s) is dead after %d attempt(s): %s",
                job.id,
                job.kind,
                after.attempts,
                error,
            )
        else:
            log.warning(
                "job %d (%s) attempt %d failed, retry at %s: %s",
                job.id,
                job.kind,
                after.attempts,
                after.run_after.isoformat(timespec="seconds"),
                error,
            )

    # --- the task -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("job runner already started")
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="jobs")

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the running job finish (bounded by ``timeout``), then cancel."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # A stopped runner can still be driven by hand (run_once), e.g. by a test or a tool.
        self._stopping.clear()

    async def _loop(self) -> None:
        failing: str | None = None
        while not self._stopping.is_set():
            ran = 0
            try:
                ran = await self.run_once()
                if failing is not None:
                    log.info("job runner: database answers again")
                    failing = None
            except Exception as exc:
                reason = describe(exc)
                # One line per outage, not one per poll.
                if failing is None:
                    log.warning("job runner paused, will retry: %s", reason)
                failing = reason
            if ran < self.batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._stopping.wait()
