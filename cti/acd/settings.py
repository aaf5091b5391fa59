"""Routing settings, read from ``CTI_ACD_*`` environment variables.

Hotlines are a JSON object keyed by hotline name, e.g.::

    CTI_ACD_HOTLINES='{"hotline": {"numbers": ["4008001234"], "queue": "hotline",
                       "hours": ["mon-fri 09:00-21:00", "sat-sun 10:00-18:00"]}}'
"""

from __future__ import annotations

import re
from decimal import Decimal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cti.acd.hours import parse_ranges, parse_schedule
from cti.settings import TimeZoneName, load_section

HOTLINE_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class HotlineSettings(BaseModel):
    numbers: list[str] = Field(default_factory=list)
    """Dialled numbers (DNIS) of this hotline; the default hotline takes any other."""
    queue: str = Field(default="hotline", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    timezone: TimeZoneName = "Asia/Shanghai"
    hours: list[str] = Field(default_factory=lambda: ["mon-sun 00:00-24:00"])
    """Weekly opening hours, e.g. ``["mon-fri 09:00-18:00", "sat 10:00-16:00"]``."""
    workday_hours: list[str] | None = None
    """Hours of a make-up working day (调休); default: Monday's hours."""
    queue_timeout: int | None = Field(default=None, ge=1, le=3600)
    """Seconds a caller waits in the queue before being offered voicemail."""
    csat: bool = True
    """Ask a caller still on the line after the agent hung up to rate the call 1-5."""

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[str]) -> list[str]:
        parse_schedule(value)
        return value

    @field_validator("workday_hours")
    @classmethod
    def _valid_workday_hours(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            parse_ranges(value)
        return value


class AcdSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CTI_ACD_", env_file=None, extra="ignore", validate_default=True
    )

    # Tier rules: explicit tier wins; else vip if either VIP threshold is met
    # within the window, returning if any order at all, else new.
    vip_paid_total: Decimal = Field(default=Decimal("5000"), ge=0)
    vip_order_count: int = Field(default=10, ge=1)
    tier_window_days: int = Field(default=365, ge=1, le=3660)
    tier_currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    paid_statuses: list[str] = Field(
        default_factory=lambda: ["paid", "shipped", "delivered", "completed"]
    )

    priority_vip: int = Field(default=10, ge=0, le=999)
    priority_returning: int = Field(default=5, ge=0, le=999)
    priority_new: int = Field(default=0, ge=0, le=999)

    preferred_timeout: int = Field(default=8, ge=1, le=60)
    """Seconds the last agent is rung before the call joins the queue."""
    preferred_max_age_days: int = Field(default=90, ge=0)
    """Only prefer the last agent if that call is this recent; 0 means no limit."""

    lookup_timeout: float = Field(default=0.5, gt=0, le=5)
    """Upper bound of the caller lookup; past it the call is routed without it."""
    calendar_ttl: float = Field(default=30.0, ge=0)
    """Seconds a process keeps the holiday calendar before reading it again."""
    local_area_code: str = Field(default="", pattern=r"^$|^[1-9]\d{1,3}$")
    """Area code (without 0) completing fixed-line caller IDs sent without one."""

    default_hotline: str = Field(default="hotline", pattern=HOTLINE_NAME)
    hotlines: dict[str, HotlineSettings] = Field(
        default_factory=lambda: {"hotline": HotlineSettings()}
    )

    @field_validator("hotlines")
    @classmethod
    def _hotline_names(cls, value: dict[str, HotlineSettings]) -> dict[str, HotlineSettings]:
        bad = [name for name in value if not re.fullmatch(HOTLINE_NAME, name)]
        if bad:
            raise ValueError(f"bad hotline name(s) {bad}: letters, digits, _ and - only")
        return value

    @model_validator(mode="after")
    def _default_hotline_exists(self) -> AcdSettings:
        if self.default_hotline not in self.hotlines:
            raise ValueError(f"default_hotline {self.default_hotline!r} is not in hotlines")
        return self


def load_acd_settings() -> AcdSettings:
    """Like :func:`cti.settings.load_settings`: one line per wrong ``CTI_ACD_*`` setting."""
    return load_section(AcdSettings, "CTI_ACD_")
