from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


KIND_MAX = 50
KEY_MAX = 200
ERROR_MAX = 300


class Job(Base):
    """One unit of work that must happen even across restarts and outages."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The runner's question: which queued jobs are due, and which leases ran out.
        Index("ix_jobs_status_run_after", "status", "run_after"),
        Index("ix_jobs_kind_status", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(KIND_MAX))
    key: Mapped[str] = mapped_column(String(KEY_MAX), unique=True)
    """Idempotency key: the same key never becomes a second job."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    """Leases taken so far; a crash while running counts as an attempt."""
    max_attempts: Mapped[int]
    run_after: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_MAX), default=None)
    """Type and first line of the last failure, secrets masked."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
