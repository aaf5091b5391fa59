"""What ``GET /api/v1/queues`` returns and ``WS /ws/supervisor`` pushes (one shape for both)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, Field

from cti.agents.state import AgentState
from cti.queues.live import QueueNow
from cti.queues.series import SeriesPoint
from cti.queues.today import TodayFigures


def _at(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class AgentCountsOut(BaseModel):
    available: int
    ringing: int
    on_call: int
    wrap_up: int
    paused: int
    paused_by_reason: dict[str, int] = Field(
        description='paused agents by pause reason ("" for a pause without one)'
    )
    logged_out: int = Field(
        description="agents that were members of this queue since the service started "
        "and are not now"
    )


class QueueAgentOut(BaseModel):
    extension: str | None
    interface: str
    member_name: str | None
    state: AgentState
    since: datetime | None
    paused_reason: str | None


class QueueLiveOut(BaseModel):
    """A queue right now: waiting callers and its agents, on Asterisk's clock."""

    queue: str
    waiting: int = Field(description="callers in the queue now, not yet answered")
    longest_wait_s: float | None = Field(description="the oldest waiting caller's wait so far")
    oldest_waiting_since: datetime | None = Field(
        description="when the oldest waiting caller joined the queue"
    )
    agents: AgentCountsOut
    members: list[QueueAgentOut]
    at: datetime = Field(description="Asterisk's time these figures were taken at")

    @classmethod
    def of(cls, now: QueueNow) -> QueueLiveOut:
        c = now.agents
        return cls(
            queue=now.queue,
            waiting=now.waiting,
            longest_wait_s=now.longest_wait_s,
            oldest_waiting_since=_at(now.oldest_joined_at),
            agents=AgentCountsOut(
                available=c.available,
                ringing=c.ringing,
                on_call=c.on_call,
                wrap_up=c.wrap_up,
                paused=c.paused,
                paused_by_reason=dict(c.paused_by_reason),
                logged_out=c.logged_out,
            ),
            members=[
                QueueAgentOut(
                    extension=a.extension,
                    interface=a.interface,
                    member_name=a.member_name,
                    state=a.state,
                    since=_at(a.since),
                    paused_reason=a.paused_reason,
                )
                for a in now.members
            ],
            at=datetime.fromtimestamp(now.at, UTC),
        )


class TodayOut(BaseModel):
    """Today so far (business day), as the statistics define the figures."""

    offered: int
    answered: int
    abandoned: int
    service_level: float | None = Field(description="fraction 0..1")
    threshold_s: float | None

    @classmethod
    def of(cls, figures: TodayFigures) -> TodayOut:
        return cls(
            offered=figures.offered,
            answered=figures.answered,
            abandoned=figures.abandoned,
            service_level=figures.service_level,
            threshold_s=figures.threshold_s,
        )


class WaitingPointOut(BaseModel):
    at: datetime = Field(description="the minute sampled (business time zone)")
    waiting: int

    @classmethod
    def of(cls, point: SeriesPoint) -> WaitingPointOut:
        return cls(at=point.at, waiting=point.waiting)


class QueueOut(QueueLiveOut):
    today: TodayOut | None = Field(description="null: today's figures are not available")
    day: date | None = Field(description="the business day of waiting_series")
    waiting_series: list[WaitingPointOut] = Field(
        description="waiting callers sampled each minute of the business day, since the "
        "service started (kept in memory)"
    )


class QueuePage(BaseModel):
    items: list[QueueOut]
