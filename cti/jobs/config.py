"""Job settings, read from ``CTI_JOBS_*`` environment variables.

``CTI_JOBS_POLL_INTERVAL`` (1 s): how often an idle runner looks for due jobs
and spooled files. ``CTI_JOBS_LEASE_S`` (60): how long a leased job is ours;
its handler is cut off then, and another instance may take it back.
``CTI_JOBS_MAX_ATTEMPTS`` (8), ``CTI_JOBS_BACKOFF_BASE_S`` (10),
``CTI_JOBS_BACKOFF_FACTOR`` (2), ``CTI_JOBS_BACKOFF_MAX_S`` (3600): retry n
waits ``base * factor**(n-1)`` seconds, at most ``max``; with the defaults a job
is given up after about 21 minutes of failures. ``CTI_JOBS_DB_TIMEOUT_S`` (3):
how long a submit waits for the database before it spools the job to disk.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cti.jobs.service import DEFAULT_MAX_ATTEMPTS, Backoff


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_JOBS_", extra="ignore")

    poll_interval: float = Field(default=1.0, gt=0, le=300)
    lease_s: float = Field(default=60.0, ge=1, le=86400)
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=1000)
    backoff_base_s: float = Field(default=10.0, gt=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    db_timeout_s: float = Field(default=3.0, gt=0, le=60)

    def backoff(self) -> Backoff:
        return Backoff(self.backoff_base_s, self.backoff_factor, self.backoff_max_s)
