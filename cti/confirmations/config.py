"""Confirmation-call settings, read from ``CTI_CONFIRM_*`` environment variables.

The request (API):
``CTI_CONFIRM_DEFAULT_MAX_ATTEMPTS`` (3): how often a customer is dialled when the
request does not say (``max_attempts``, 1 to 10).
``CTI_CONFIRM_SECRET_GRACE_H`` (24): hours a shop's webhook secret stays valid after
it was rotated, so the shop can switch to the new one without missing a webhook.
``CTI_CONFIRM_IDEMPOTENCY_KEEP_H`` (48, at least 24): how long a request's
``Idempotency-Key`` answers with its first response; a daily job then forgets the key
(and the stored request), so the shop may use it again.

The dialling (:mod:`cti.confirmations.dialler`): ``CTI_CONFIRM_DIAL_TEMPLATE``,
``_CONTEXT``, ``_RING_TIMEOUT_S``, ``_MAX_CONCURRENT``, ``_RETRY_BASE_S``,
``_RETRY_FACTOR``, ``_RETRY_MAX_S``, ``_CAPACITY_WAIT_S``, ``_DIGIT_TIMEOUT_S``, each
described below.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cti.jobs.service import Backoff

MAX_ATTEMPTS_LIMIT = 10
"""Most dialling attempts a request may ask for."""
IDEMPOTENCY_KEEP_MIN_H = 24.0
"""The API promises a key is kept at least this long."""


class ConfirmationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_CONFIRM_", extra="ignore")

    # --- the request --------------------------------------------------------------------
    default_max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS_LIMIT)
    secret_grace_h: float = Field(default=24.0, ge=0, le=24 * 30)
    idempotency_keep_h: float = Field(default=48.0, ge=IDEMPOTENCY_KEEP_MIN_H, le=24 * 365)

    # --- the dialling -------------------------------------------------------------------
    dial_template: str = "PJSIP/{national}@cti-trunk"
    """The channel to dial: ``{national}`` (e.g. 13800138000) or ``{e164}`` (+8613800138000)."""
    context: str = "cti-confirm"
    """Where the answered call goes (``dialplans/extensions.conf``)."""
    ring_timeout_s: float = Field(default=30.0, gt=0, le=120)
    max_concurrent: int = Field(default=10, ge=1, le=10_000)
    """Confirmation calls at once, every shop together (each shop has its own limit too)."""
    retry_base_s: float = Field(default=300.0, gt=0)
    retry_factor: float = Field(default=2.0, ge=1)
    retry_max_s: float = Field(default=3600.0, gt=0)
    """Busy, no answer, failed: attempt n+1 after ``base * factor**(n-1)``, at most ``max``."""
    capacity_wait_s: float = Field(default=5.0, gt=0, le=300)
    """How soon a call held back by a concurrency limit is tried again."""
    digit_timeout_s: float = Field(default=6.0, gt=0, le=30)
    """How long the customer has to press a key after the menu (it is played twice)."""
    answered_check_s: float = Field(default=60.0, gt=0, le=3600)
    """How often an answered call is looked at while it lasts, so that one whose end the
    service missed (it was down) does not stay ``dialling``."""

    def backoff(self) -> Backoff:
        return Backoff(self.retry_base_s, self.retry_factor, self.retry_max_s)
