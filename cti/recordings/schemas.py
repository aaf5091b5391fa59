from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from cti.calls.schemas import CallEventOut


class PausedSpan(BaseModel):
    start_s: float
    end_s: float | None = None
    """None while still paused (a recording being written)."""


class RecordingOut(BaseModel):
    id: str
    """Opaque (``rec_...``); the catalog's own row id is never shown."""
    call_id: str
    """The call's Linkedid (``GET /api/v1/calls/{call_id}``)."""
    segment: int
    """1-based position among the call's recordings (a transfer adds one)."""
    caller_number: str | None
    agent: str | None
    queue: str | None
    direction: str
    order_id: str | None
    started_at: datetime
    duration_s: float
    size_bytes: int
    format: str
    """``wav`` (audio/wav) or ``opus`` (audio/ogg)."""
    channels: int
    """1 = both parties mixed; 2 = dual-channel (left caller, right agent)."""
    sha256: str
    paused_spans: list[PausedSpan]
    """Offsets into the audio where recording was paused (silence), for card numbers."""
    status: str
    """``available``, ``deleted`` or ``missing``."""
    reviewed: bool
    """Has a QA review that no later review corrects."""


class RecordingDetailOut(RecordingOut):
    timeline: list[CallEventOut]
    """The call's timeline, as ``GET /api/v1/calls/{call_id}`` shows it."""


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    total: int
    limit: int
    offset: int


class PlaybackLinkOut(BaseModel):
    url: str
    """``/api/v1/recordings/{id}/audio?expires=...&signature=...``: no token needed."""
    expires_at: datetime
