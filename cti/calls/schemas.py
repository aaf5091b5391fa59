from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cti.bounds import MULTI_LINE


class Disposition(StrEnum):
    RESOLVED = "resolved"
    TICKET_CREATED = "ticket_created"
    CALLBACK_NEEDED = "callback_needed"
    TRANSFERRED = "transferred"
    WRONG_NUMBER = "wrong_number"
    OTHER = "other"


NoteText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=MULTI_LINE)
]


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
    direction: Literal["inbound", "outbound"] = "inbound"
    """``outbound``: a call we placed (an order confirmation, an agent's callback); its
    ``caller_number`` is the customer dialled."""
    order_id: str | None = None


class CallRecordingOut(BaseModel):
    """One recording of a call: catalogued, or still being written (``status`` "recording")."""

    id: str
    segment: int
    agent: str | None
    started_at: datetime | None
    duration_s: float | None
    """None while it is being written."""
    status: str


class CallDetailOut(CallOut):
    timeline: list[CallEventOut]
    recordings: list[CallRecordingOut] = Field(default_factory=list)
    """Its recordings in segment order (``GET /api/v1/recordings/{id}`` for each)."""
    csat: int | None = Field(default=None, ge=1, le=5)
    """The caller's satisfaction rating after the call, 1 (worst) to 5; None: not rated."""


class CallPage(BaseModel):
    items: list[CallOut]
    active: list[CallOut]
    total: int
    limit: int
    offset: int


class CallNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disposition: Disposition
    note: NoteText = ""


class CallNoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    linkedid: str
    agent: str
    disposition: Disposition
    note: str
    created_at: datetime
    updated_at: datetime


class CallNotesOut(BaseModel):
    items: list[CallNoteOut] = Field(default_factory=list)
