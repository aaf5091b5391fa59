"""The AMI adapter decides what a tracker bug costs: one skipped event, a log line, a count."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from cti.agents.state import AgentStateChanged, AgentStateTracker
from cti.ami.codec import AmiDecoder, AmiMessage
from cti.bus import EventBus
from cti.metrics import Metrics
from cti.pipeline import EventPipeline
from cti.tracking import dispatch
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.tracker import CallTracker

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"


def recorded(name: str) -> list[AmiMessage]:
    return list(AmiDecoder().feed((TRACES / name).read_bytes()))


def build() -> tuple[EventPipeline, Metrics, list[object]]:
    metrics = Metrics()
    bus = EventBus(on_failure=metrics.subscriber_failed)
    heard: list[object] = []
    bus.subscribe(DomainEvent, heard.append, name="test.calls")
    bus.subscribe(AgentStateChanged, heard.append, name="test.agents")
    return EventPipeline(CallTracker(), AgentStateTracker(), bus, metrics), metrics, heard


def test_recorded_traffic_goes_through_without_a_tracker_error() -> None:
    pipeline, metrics, heard = build()
    for msg in recorded("answered.ami"):
        pipeline.on_ami_event(msg)
    types = [e.type for e in heard if isinstance(e, DomainEvent)]
    assert types[0] is DomainEventType.CALL_STARTED and types[-1] is DomainEventType.ENDED
    assert any(isinstance(e, AgentStateChanged) for e in heard)
    assert "cti_tracker_errors_total{" not in generate_latest(metrics.registry).decode()


def test_a_call_tracker_bug_skips_one_event_and_is_logged_and_counted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> list[DomainEvent]:
        raise RuntimeError("bug in a handler")

    monkeypatch.setitem(dispatch.HANDLERS, "AgentConnect", broken)
    pipeline, metrics, heard = build()
    with caplog.at_level(logging.ERROR, logger="cti.pipeline"):
        for msg in recorded("answered.ami"):
            pipeline.on_ami_event(msg)
    calls = [e for e in heard if isinstance(e, DomainEvent)]
    # The AMI reader carried on: the call still started and ended, only the answer is lost.
    assert calls[0].type is DomainEventType.CALL_STARTED
    assert calls[-1].type is DomainEventType.ENDED
    assert DomainEventType.ANSWERED not in [e.type for e in calls]
    # The agent tracker still heard the same AgentConnect: its state changes are there.
    assert any(isinstance(e, AgentStateChanged) for e in heard)
    assert caplog.messages == ["calls tracker failed on AgentConnect; event skipped"]
    assert "bug in a handler" in caplog.text
    body = generate_latest(metrics.registry).decode()
    assert 'cti_tracker_errors_total{tracker="calls"} 1.0' in body


def test_a_call_found_by_the_first_resync_after_a_start_began_seconds_ago() -> None:
    """A fresh process has seen no event yet: the resync's "now" is Asterisk's (the
    host's until Asterisk says otherwise), not the last event's time, which is none."""
    from cti.ami.resync import ResyncSnapshot
    from cti.clock import FixedClock

    channels = [m for m in recorded("resync.snapshot.ami") if m.get("Event") == "CoreShowChannel"]
    metrics = Metrics()
    heard: list[DomainEvent] = []
    bus = EventBus(on_failure=metrics.subscriber_failed)
    bus.subscribe(DomainEvent, heard.append, name="test.calls")
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    pipeline = EventPipeline(CallTracker(), AgentStateTracker(clock=clock), bus, metrics)
    pipeline.on_resync(ResyncSnapshot(channels, [], [], [], []))
    [started] = [e for e in heard if e.type is DomainEventType.CALL_STARTED]
    assert started.timestamp == clock.time() - 3  # the caller's Duration: 00:00:03
