"""Statistics settings, read from ``CTI_STATS_*`` environment variables.

``CTI_STATS_SL_THRESHOLD_S`` (20): the service level counts calls answered within this
many seconds of being offered. ``CTI_STATS_SHORT_ABANDON_S`` (5): a caller gone within
this many seconds is a short abandon, reported apart and left out of the service level
"of offered". ``CTI_STATS_MAX_INTERVALS`` (3000) and ``CTI_STATS_MAX_DAYS`` (400) bound
one request (a month at 15 minutes is 2976 intervals).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cti.stats.definitions import Rules


class StatsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_STATS_", extra="ignore")

    sl_threshold_s: float = Field(default=20.0, gt=0, le=3600)
    short_abandon_s: float = Field(default=5.0, ge=0, le=600)
    max_intervals: int = Field(default=3000, ge=1, le=100_000)
    max_days: int = Field(default=400, ge=1, le=3660)

    def rules(self, timezone: str = "Asia/Shanghai") -> Rules:
        """The thresholds, with the business time zone (``CTI_TIMEZONE``)."""
        return Rules(
            sl_threshold_s=self.sl_threshold_s,
            short_abandon_s=self.short_abandon_s,
            timezone=timezone,
        )
