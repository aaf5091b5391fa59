"""Webhook settings, read from ``CTI_WEBHOOKS_*`` environment variables.

``CTI_WEBHOOKS_TIMEOUT_S`` (10): how long one POST may take in all (connect, send,
wait for the answer); ``CTI_WEBHOOKS_CONNECT_TIMEOUT_S`` (5). Both stay well below
the job lease (``CTI_JOBS_LEASE_S``, 60), or the runner would cut the attempt off.
``CTI_WEBHOOKS_BACKOFF_BASE_S`` (30), ``CTI_WEBHOOKS_BACKOFF_FACTOR`` (2),
``CTI_WEBHOOKS_BACKOFF_MAX_S`` (3600): retry n waits ``base * factor**(n-1)``
seconds, at most ``max``: 30 s, 1, 2, 4, 8, 16, 32 minutes, then hourly. With the
30 attempts every delivery job gets (:data:`cti.webhooks.service.MAX_ATTEMPTS`), a
shop that is down is tried for about 23 hours (:func:`retry_span`) before the
delivery is given up.
``CTI_WEBHOOKS_ALLOW_PRIVATE`` (false): whether a webhook may go to a loopback, private,
link-local, multicast or unspecified address (a URL with such an IP is refused when a
shop is set up; a host name resolving to one is refused before each delivery). Only for
a receiver on the service's own network, such as the tests' on 127.0.0.1.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cti.jobs.service import Backoff


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_WEBHOOKS_", extra="ignore")

    timeout_s: float = Field(default=10.0, gt=0, le=50)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=50)
    backoff_base_s: float = Field(default=30.0, gt=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    allow_private: bool = False

    @model_validator(mode="after")
    def _connect_within_total(self) -> WebhookSettings:
        if self.connect_timeout_s > self.timeout_s:
            raise ValueError("connect_timeout_s must not exceed timeout_s")
        return self

    def backoff(self) -> Backoff:
        return Backoff(self.backoff_base_s, self.backoff_factor, self.backoff_max_s)


def retry_span(backoff: Backoff, max_attempts: int) -> timedelta:
    """How long after the first attempt the last one is made, when every attempt fails."""
    return sum((backoff.delay(n) for n in range(1, max_attempts)), timedelta())
