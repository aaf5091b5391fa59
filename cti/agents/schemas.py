from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cti.agents.state import AgentState, DeviceState
from cti.bounds import ONE_LINE

EXTENSION_RE = re.compile(r"^[0-9]{2,20}$")
# Asterisk queue names as cti.ami.actions accepts them.
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")

QueueName = Annotated[str, StringConstraints(pattern=QUEUE_RE.pattern)]


class AgentIn(BaseModel):
    """Create or update an agent (``PUT /api/v1/agents/{extension}``)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    skills: Annotated[list[QueueName], Field(max_length=32)] = Field(
        default_factory=list, description="queues the agent joins at login, e.g. ['hotline']"
    )
    wrapup_s: Annotated[int | None, Field(ge=0, le=3600)] = Field(
        default=None, description="wrap-up seconds after each call; null: the default"
    )

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("skills")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=ONE_LINE),
    ]


class AgentQueueOut(BaseModel):
    queue: str
    paused: bool
    paused_reason: str | None
    paused_since: datetime | None
    penalty: int
    calls_taken: int
    logged_in_since: datetime | None


class AgentOut(BaseModel):
    extension: str
    name: str
    interface: str
    skills: list[str]
    wrapup_s: int | None
    """The agent's own wrap-up time (None: the default)."""
    effective_wrapup_s: int
    state: AgentState
    since: datetime | None
    available: bool
    """Would take a call now: logged in, not paused, idle, not in wrap-up, phone reachable."""
    paused_reason: str | None
    paused_since: datetime | None
    wrap_up_until: datetime | None
    device: DeviceState | None
    queues: list[AgentQueueOut]
    calls_taken: int
    last_call: datetime | None
    created_at: datetime
    updated_at: datetime


class AgentPage(BaseModel):
    items: list[AgentOut]
    pause_reasons: list[str]
