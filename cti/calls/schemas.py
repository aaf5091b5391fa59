from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class CallEventOut(BaseModel):
    type: str
    at: datetime
    data: dict[str, Any]


class CallOut(BaseModel):
    id: str
    linkedid: str
    active: bool
    caller_number: str | None
    caller_name: str | None
    dnis: str | None
    queue: str | None
    agent: str | None
    outcome: str | None
    state: str | None = None
    started_at: datetime
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float | None
    hangup_cause: int | None


class CallDetailOut(CallOut):
    timeline: list[CallEventOut]


class CallPage(BaseModel):
    items: list[CallOut]
    active: list[CallOut]
    total: int
    limit: int
    offset: int
