"""The statistics body, for the OpenAPI document (the body itself is built by the service)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FiguresOut(BaseModel):
    offered: int = Field(
        description="calls offered to the queue (ENTERQUEUE, or the preferred agent's ring)"
    )
    answered: int
    abandoned: int = Field(
        description="offered, not answered, the caller hung up (short ones included)"
    )
    short_abandons: int = Field(description="abandoned within CTI_STATS_SHORT_ABANDON_S")
    timeouts: int = Field(description="the queue let the caller go (timeout, empty, unavailable)")
    voicemails: int
    transfers: int
    answer_rate: float | None = Field(description="answered / offered")
    service_level_of_answered: float | None = Field(
        description="answered within the threshold / answered (app_queue's ServicelevelPerf)"
    )
    service_level_of_offered: float | None = Field(
        description="answered within the threshold / (offered - short abandons)"
    )
    asa_s: float | None = Field(description="average wait of answered calls, seconds")
    aht_s: float | None = Field(description="average talk + wrap-up of answered calls, seconds")
    longest_wait_s: float | None
    csat: float | None = Field(description="customer satisfaction (null until rated)")


class IntervalOut(FiguresOut):
    start: str = Field(description="ISO 8601, business time zone")
    end: str


class AgentOut(BaseModel):
    agent: str = Field(description="interface, e.g. PJSIP/1001")
    calls: int
    talk_s: float
    wrapup_s: float
    ring_no_answer: int
    logged_in_s: float
    paused_s: float
    pause_by_reason: dict[str, float]
    occupancy: float | None = Field(description="(on call + wrap-up) / (logged in - paused)")
    csat: float | None


class QueueStatsOut(BaseModel):
    queue: str
    from_: str = Field(alias="from")
    to: str
    interval: str
    timezone: str
    sl_threshold_s: float
    short_abandon_s: float
    total: FiguresOut
    intervals: list[IntervalOut]
    agents: list[AgentOut]
