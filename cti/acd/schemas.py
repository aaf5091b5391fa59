from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, field_validator

from cti.acd.hours import parse_ranges
from cti.acd.policy import DayKind
from cti.bounds import ONE_LINE


class HotlineDayIn(BaseModel):
    kind: DayKind = DayKind.HOLIDAY
    """``holiday`` (closed, or open only during ``hours``) or ``workday`` (调休, open)."""
    name: str = Field(default="", max_length=100, pattern=ONE_LINE)
    hours: list[str] | None = Field(default=None, max_length=8)
    """Opening ranges that replace the usual ones, e.g. ``["10:00-16:00"]``."""

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [str(r) for r in parse_ranges(value)]


class HotlineDayOut(BaseModel):
    hotline: str
    date: date
    kind: DayKind
    name: str
    hours: list[str] | None
    updated_at: datetime


class HotlineDayList(BaseModel):
    hotline: str
    items: list[HotlineDayOut]
