"""The jobs table: enqueue, lease, complete, fail, list. Functions flush; callers commit.

Every state change is a single conditional UPDATE, so it is safe without row
locks (SQLite) and two service instances on PostgreSQL never take the same job:
leasing picks rows with ``FOR UPDATE SKIP LOCKED``, and a worker whose lease was
taken back can no longer complete or fail the job.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cti.jobs.models import ERROR_MAX, KEY_MAX, KIND_MAX, Job, JobStatus

DEFAULT_MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``n`` (1-based): ``base_s * factor**(n-1)``, at most ``max_s``."""

    base_s: float = 10.0
    factor: float = 2.0
    max_s: float = 3600.0

    def delay(self, attempt: int) -> timedelta:
        seconds = self.base_s * self.factor ** max(0, attempt - 1)
        return timedelta(seconds=min(self.max_s, seconds))


def check_job(kind: str, key: str, payload: Mapping[str, Any], max_attempts: int) -> None:
    """Refuse what the table would refuse later, before the job is acknowledged anywhere."""
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"job kind must be 1-{KIND_MAX} characters")
    if not key or len(key) > KEY_MAX:
        raise ValueError(f"job key must be 1-{KEY_MAX} characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    json.dumps(payload, allow_nan=False)  # TypeError/ValueError for what JSON cannot hold


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    now: datetime,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> tuple[Job, bool]:
    """Add a job unless one with ``key`` exists; return the job and whether it is new.

    A second enqueue with the same key keeps the first job as it is (payload,
    status): the key says "this is the same piece of work".
    """
    check_job(kind, key, payload, max_attempts)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Job)
        .values(
            kind=kind,
            key=key,
            payload=dict(payload),
            status=JobStatus.QUEUED.value,
            attempts=0,
            max_attempts=max_attempts,
            run_after=run_after or now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Job.key])
    )
    result = await session.execute(stmt)
    created = _rowcount(result) == 1
    job = (
        await session.execute(
            select(Job).where(Job.key == key).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return job, created


def _rowcount(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


async def lease(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_for: timedelta,
    kinds: Collection[str] | None = None,
    limit: int = 1,
) -> list[Job]:
    """Take up to ``limit`` due jobs for ``owner`` until ``now + lease_for``.

    Due means queued with ``run_after`` passed, or running with an expired lease
    (its worker stopped or hung): that one is taken back. A taken-back job that
    has used all its attempts goes dead instead of running again, so a job that
    kills its worker cannot loop forever.
    """
    if kinds is not None and not kinds:
        return []
    due = or_(
        and_(Job.status == JobStatus.QUEUED.value, Job.run_after <= now),
        and_(Job.status == JobStatus.RUNNING.value, Job.lease_expires_at <= now),
    )
    pick = select(Job.id).where(due)
    if kinds is not None:
        pick = pick.where(Job.kind.in_(list(kinds)))
    # The runner asks every second; an idle poll stays a read and takes no write lock.
    if (await session.execute(pick.limit(1))).first() is None:
        return []
    await _bury_expired(session, now=now, kinds=kinds)
    pick = pick.order_by(Job.run_after, Job.id).limit(limit).with_for_update(skip_locked=True)
    stmt = (
        update(Job)
        .where(Job.id.in_(pick.scalar_subquery()))
        .values(
            status=JobStatus.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + lease_for,
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    jobs = list((await session.execute(stmt)).scalars())
    jobs.sort(key=lambda j: (j.run_after, j.id))
    return jobs


async def _bury_expired(
    session: AsyncSession, *, now: datetime, kinds: Collection[str] | None
) -> None:
    spent = select(Job.id).where(
        Job.status == JobStatus.RUNNING.value,
        Job.lease_expires_at <= now,
        Job.attempts >= Job.max_attempts,
    )
    if kinds is not None:
        spent = spent.where(Job.kind.in_(list(kinds)))
    spent = spent.with_for_update(skip_locked=True)
    await session.execute(
        update(Job)
        .where(Job.id.in_(spent.scalar_subquery()))
        .values(
            status=JobStatus.DEAD.value,
            lease_owner=None,
            lease_expires_at=None,
            last_error="lease ran out on the last attempt (worker stopped or job too slow)",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _held(job_id: int, owner: str) -> Any:
    return and_(Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.RUNNING.value)


async def hold(session: AsyncSession, *, job_id: int, owner: str) -> bool:
    """Whether ``owner`` still holds the job; on PostgreSQL also lock it for this transaction.

    The row lock keeps other leasers off the job (they skip locked rows) while
    its handler runs, even if the lease runs out meanwhile.
    """
    found = await session.execute(select(Job.id).where(_held(job_id, owner)).with_for_update())
    return found.first() is not None


async def complete(session: AsyncSession, *, job_id: int, owner: str, now: datetime) -> bool:
    """Mark the job done; False when ``owner`` lost the lease (the caller must roll back)."""
    result = await session.execute(
        update(Job)
        .where(_held(job_id, owner))
        .values(
            status=JobStatus.DONE.value,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def fail(
    session: AsyncSession,
    *,
    job_id: int,
    owner: str,
    error: str,
    now: datetime,
    backoff: Backoff,
    permanent: bool = False,
) -> Job | None:
    """Record a failed attempt: queue a retry after the backoff, or dead when attempts are spent.

    ``permanent`` makes it dead at once (the payload can never work). Returns
    None when ``owner`` no longer holds the job.
    """
    row = (
        await session.execute(select(Job.attempts, Job.max_attempts).where(_held(job_id, owner)))
    ).first()
    if row is None:
        return None
    attempts, max_attempts = row
    dead = permanent or attempts >= max_attempts
    values: dict[str, Any] = {
        "status": (JobStatus.DEAD if dead else JobStatus.QUEUED).value,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": error[:ERROR_MAX],
        "updated_at": now,
    }
    if not dead:
        values["run_after"] = now + backoff.delay(attempts)
    result = await session.execute(
        update(Job)
        .where(_held(job_id, owner), Job.attempts == attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return None
    return await session.get(Job, job_id, populate_existing=True)


async def postpone(
    session: AsyncSession,
    *,
    job_id: int,
    owner: str,
    run_after: datetime,
    note: str,
    now: datetime,
) -> Job | None:
    """Put a held job back in the queue, due at ``run_after``, without spending the attempt.

    For a handler that says "not yet" (:class:`cti.jobs.errors.RetryLater`):
    the lease taken to run it is given back, so waiting never makes a job dead.
    Returns None when ``owner`` no longer holds the job.
    """
    result = await session.execute(
        update(Job)
        .where(_held(job_id, owner), Job.attempts > 0)
        .values(
            status=JobStatus.QUEUED.value,
            attempts=Job.attempts - 1,
            run_after=run_after,
            lease_owner=None,
            lease_expires_at=None,
            last_error=note[:ERROR_MAX],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return None
    return await session.get(Job, job_id, populate_existing=True)


async def requeue(session: AsyncSession, *, job_id: int, now: datetime) -> Job | None:
    """Give a dead job a fresh set of attempts (an operator fixed the cause)."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.DEAD.value)
        .values(status=JobStatus.QUEUED.value, attempts=0, run_after=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return None
    return await session.get(Job, job_id, populate_existing=True)


async def get_job(session: AsyncSession, *, job_id: int) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def list_jobs(
    session: AsyncSession,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Job]:
    """Newest first."""
    stmt = select(Job)
    if status is not None:
        stmt = stmt.where(Job.status == status.value)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    stmt = stmt.order_by(Job.id.desc()).limit(limit).offset(offset)
    return list((await session.execute(stmt)).scalars())


async def count_jobs(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Jobs by ``(kind, status)``: the figures for a ``cti_jobs`` gauge."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count(Job.id)).group_by(Job.kind, Job.status)
    )
    return {(kind, status): int(n) for kind, status, n in rows}


async def oldest_due(session: AsyncSession, now: datetime) -> dict[str, float]:
    """Per kind, how long the oldest queued job whose time has come has waited past it:
    the figures for ``cti_jobs_oldest_due_seconds`` (a kind with nothing due is absent).

    Jobs waiting for a retry are not due yet and do not count: a growing figure means the
    runner is not keeping up (or not running), not that a partner is down.
    """
    rows = await session.execute(
        select(Job.kind, func.min(Job.run_after))
        .where(Job.status == JobStatus.QUEUED.value, Job.run_after <= now)
        .group_by(Job.kind)
    )
    return {kind: max(0.0, (now - since).total_seconds()) for kind, since in rows}
