"""The recordings catalog and the QA reviews of its recordings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.base import Base, UtcDateTime

PUBLIC_ID_MAX = 40
PATH_MAX = 512


class RecordingStatus(StrEnum):
    AVAILABLE = "available"
    """The file is in the recordings root, complete, with the size and SHA-256 of the row."""
    DELETED = "deleted"
    """Removed by retention (or an operator); the row stays as the record that it existed."""
    MISSING = "missing"
    """``cti recordings check`` found the row without its file."""


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Recording(Base):
    """One complete recording file: one segment of one call (Linkedid).

    Written only once the file is complete (Asterisk closed it). A transferred
    call has one segment per agent leg, numbered in order of start.
    """

    __tablename__ = "recordings"
    __table_args__ = (
        UniqueConstraint("linkedid", "segment", name="uq_recordings_linkedid_segment"),
        Index("ix_recordings_status_started_at", "status", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_MAX), unique=True)
    """The id the API shows: random, so neither guessable nor counting calls."""
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    segment: Mapped[int] = mapped_column(Integer)
    """1-based position among the call's recordings, in order of start."""
    uniqueid: Mapped[str | None] = mapped_column(String(64))
    """Uniqueid of the recorded channel (the agent's leg)."""
    path: Mapped[str] = mapped_column(String(PATH_MAX), unique=True)
    """Relative to the recordings root; set by the service only, never from a request."""
    caller_number: Mapped[str | None] = mapped_column(String(64), index=True)
    """Normalised (E.164) when it parses, else as Asterisk gave it."""
    agent: Mapped[str | None] = mapped_column(String(80), index=True)
    queue: Mapped[str | None] = mapped_column(String(80), index=True)
    direction: Mapped[str] = mapped_column(String(10), index=True)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    duration_s: Mapped[float] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(8))
    """``wav`` or ``opus``."""
    channels: Mapped[int] = mapped_column(Integer, default=1)
    """1 = caller and agent mixed; 2 = dual-channel (left caller, right agent)."""
    sha256: Mapped[str] = mapped_column(String(64))
    paused_spans: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """``[{"start_s": .., "end_s": ..}]`` offsets into the audio where it was muted (PCI)."""
    status: Mapped[str] = mapped_column(String(10), default=RecordingStatus.AVAILABLE.value)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Review(Base):
    """One submitted QA review of one recording. Final: a correction is a new review.

    The score sheet is copied into the row (``criteria``), so changing the
    configured sheets never changes a past review.
    """

    __tablename__ = "recording_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_MAX), unique=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    sheet: Mapped[str] = mapped_column(String(64))
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """``[{"key", "label", "weight", "max", "score"}]`` as scored."""
    total: Mapped[float] = mapped_column(Float)
    """Weighted score, 0-100."""
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(80))
    agent: Mapped[str | None] = mapped_column(String(80), index=True)
    """Copied from the recording, for averages per agent."""
    queue: Mapped[str | None] = mapped_column(String(80), index=True)
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("recording_reviews.id", ondelete="SET NULL"),
        index=True,
        unique=True,
        default=None,
    )
    """The review this one corrects; the corrected one no longer counts in averages.
    Unique: a review is corrected at most once, also by two corrections sent at once."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
