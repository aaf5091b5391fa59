"""A call's recordings as segments: who was recorded, from when, with which muted spans.

Pure: the facts come from the call's timeline (the tracker's domain events, or
the same events read back from the ``call_events`` table), so the catalog job
and ``cti recordings check --repair`` describe a recording the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cti.tracking.events import DomainEventType
from cti.tracking.values import extension_of, interface_of

STARTED = DomainEventType.RECORDING_STARTED.value
PAUSED = DomainEventType.RECORDING_PAUSED.value
RESUMED = DomainEventType.RECORDING_RESUMED.value


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    type: str
    """A :class:`~cti.tracking.events.DomainEventType` value."""
    at: float
    """Epoch seconds (Asterisk's clock)."""
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Segment:
    segment: int
    """1-based, in order of start."""
    file: str
    """``MIXMONITOR_FILENAME``: Asterisk's path of the file."""
    channel: str | None
    uniqueid: str | None
    started_at: float
    agent: str | None
    """Extension of the recorded channel when it is an agent's (``PJSIP/1001-…``)."""
    paused_spans: list[dict[str, float]] = field(default_factory=list)
    """``{"start_s", "end_s"}`` offsets into this segment's audio where it was muted."""


def uniqueid_of_file(file: str) -> str | None:
    """``…/<linkedid>-<uniqueid>.wav`` -> ``<uniqueid>`` (the dialplan's naming)."""
    name = file.rpartition("/")[2]
    stem = name.split(".wav", 1)[0] if name.endswith(".wav") else name.rpartition(".")[0]
    _, dash, uniqueid = stem.rpartition("-")
    return uniqueid if dash and uniqueid else None


def agent_of_channel(channel: str | None) -> str | None:
    return extension_of(interface_of(channel)) if channel else None


def paused_spans(
    timeline: Iterable[TimelineEvent],
    *,
    channel: str | None,
    uniqueid: str | None,
    start: float,
    end: float,
) -> list[dict[str, float]]:
    """Muted spans of one recorded channel, as offsets from ``start``.

    A pause never resumed lasts until ``end`` (the call's end); a resume
    without a pause and a second pause while paused change nothing.
    """
    if channel is None and uniqueid is None:
        return []
    length = max(0.0, end - start)

    def offset(at: float) -> float:
        return round(min(length, max(0.0, at - start)), 3)

    spans: list[dict[str, float]] = []
    paused_at: float | None = None
    for event in sorted(timeline, key=lambda e: e.at):
        if event.type not in (PAUSED, RESUMED) or event.at < start:
            continue
        same = (channel is not None and event.data.get("channel") == channel) or (
            uniqueid is not None and event.data.get("uniqueid") == uniqueid
        )
        if not same:
            continue
        if event.type == PAUSED and paused_at is None:
            paused_at = event.at
        elif event.type == RESUMED and paused_at is not None:
            spans.append({"start_s": offset(paused_at), "end_s": offset(event.at)})
            paused_at = None
    if paused_at is not None:
        spans.append({"start_s": offset(paused_at), "end_s": offset(end)})
    return [s for s in spans if s["end_s"] > s["start_s"]]


def recorded_files(timeline: Iterable[TimelineEvent]) -> list[str]:
    """Files of the timeline's RECORDING_STARTED events, in order of start, each once."""
    files: list[str] = []
    for event in sorted(timeline, key=lambda e: e.at):
        file = event.data.get("file")
        if event.type == STARTED and isinstance(file, str) and file and file not in files:
            files.append(file)
    return files


def segments(
    files: Sequence[str],
    timeline: Sequence[TimelineEvent],
    *,
    call_started: float,
    call_ended: float,
) -> list[Segment]:
    """One :class:`Segment` per file of ``files`` (the call's recordings, in order)."""
    starts: dict[str, TimelineEvent] = {}
    for event in sorted(timeline, key=lambda e: e.at):
        file = event.data.get("file")
        if event.type == STARTED and isinstance(file, str) and file not in starts:
            starts[file] = event
    out: list[Segment] = []
    for position, file in enumerate(files, start=1):
        start = starts.get(file)
        channel = _text(start.data.get("channel")) if start else None
        uniqueid = (_text(start.data.get("uniqueid")) if start else None) or uniqueid_of_file(file)
        began = start.at if start else call_started
        out.append(
            Segment(
                segment=position,
                file=file,
                channel=channel,
                uniqueid=uniqueid,
                started_at=began,
                agent=agent_of_channel(channel),
                paused_spans=paused_spans(
                    timeline, channel=channel, uniqueid=uniqueid, start=began, end=call_ended
                ),
            )
        )
    return out


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
