"""Confirmation-call settings, read from ``CTI_CONFIRM_*`` environment variables.

``CTI_CONFIRM_DEFAULT_MAX_ATTEMPTS`` (3): how often a customer is dialled when the
request does not say (``max_attempts``, 1 to 10).
``CTI_CONFIRM_SECRET_GRACE_H`` (24): hours a shop's webhook secret stays valid after
it was rotated, so the shop can switch to the new one without missing a webhook.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_ATTEMPTS_LIMIT = 10
"""Most dialling attempts a request may ask for."""


class ConfirmationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_CONFIRM_", extra="ignore")

    default_max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS_LIMIT)
    secret_grace_h: float = Field(default=24.0, ge=0, le=24 * 30)
