"""The AMI user's event filters (dialplans/manager.conf) drop nothing the service uses.

Asterisk applies the ``eventfilter`` lines before it writes an event to our session.
Every recorded trace (tests/fixtures/traces, captured from Asterisk 22 without these
filters) is replayed twice -- whole, and with the events the filters drop taken out
-- through the call tracker and the agent state tracker: the domain events (calls,
their timelines and summaries) and the agent states must be the same. The filters
must also really drop a large share of the hotline's traffic (the reason they exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cti.agents.state import AgentStateTracker
from cti.ami import eventfilter
from cti.ami.codec import AmiDecoder, AmiMessage
from cti.clock import FixedClock
from cti.tracking.events import CallSummary, DomainEvent
from cti.tracking.tracker import CallTracker

ROOT = Path(__file__).resolve().parents[2]
MANAGER_CONF = ROOT / "dialplans" / "manager.conf"
TRACES = sorted((ROOT / "tests" / "fixtures" / "traces").glob("*.ami"))
CALL_TRACES = [t for t in TRACES if ".snapshot." not in t.name]


FILTERS = eventfilter.parse(MANAGER_CONF.read_text())


def delivered(msg: Mapping[str, str]) -> bool:
    return eventfilter.delivered(FILTERS, msg)


def messages(path: Path) -> list[AmiMessage]:
    decoder = AmiDecoder()
    out = decoder.feed(path.read_bytes())
    decoder.finish()
    return [m for m in out if m.get("Event")]


def _plain(event: DomainEvent) -> tuple[Any, ...]:
    """An event as comparable values (a summary's timeline holds the event itself)."""
    data = dict(event.data)
    summary = data.pop("summary", None)
    if isinstance(summary, CallSummary):
        data["summary"] = {
            **summary.to_json_dict(),
            "started_at": summary.started_at,
            "ended_at": summary.ended_at,
            "routed_queue": summary.routed_queue,
            "voicemail": summary.voicemail,
            "timeline": [(e.type, e.timestamp) for e in summary.timeline],
        }
    return (event.type, event.linkedid, event.timestamp, data)


def replay(msgs: list[AmiMessage]) -> tuple[list[Any], list[Any]]:
    calls = CallTracker()
    agents = AgentStateTracker(clock=FixedClock(0.0))
    domain = [_plain(e) for m in msgs for e in calls.feed(m)]
    states = [c for m in msgs for c in agents.feed(m)]
    assert domain, "the trace gave no call events"
    return domain, states


def test_the_filters_are_exclusions_only() -> None:
    """An include filter would silently drop every event it does not name."""
    assert len(FILTERS) >= 5
    with pytest.raises(eventfilter.EventFilterError, match="only exclusions"):
        eventfilter.parse("eventfilter(name(Hangup)) =")
    with pytest.raises(eventfilter.EventFilterError, match="advanced"):
        eventfilter.parse("eventfilter = !Event: Newexten")


@pytest.mark.parametrize("trace", CALL_TRACES, ids=lambda p: p.name)
def test_filtered_stream_gives_the_same_calls_and_agent_states(trace: Path) -> None:
    msgs = messages(trace)
    kept = [m for m in msgs if delivered(m)]
    whole_calls, whole_states = replay(msgs)
    kept_calls, kept_states = replay(kept)
    assert kept_calls == whole_calls
    assert kept_states == whole_states


def test_the_filters_drop_most_of_a_queued_calls_events() -> None:
    msgs = [m for t in CALL_TRACES for m in messages(t)]
    kept = sum(1 for m in msgs if delivered(m))
    assert kept < 0.5 * len(msgs), (kept, len(msgs))


def test_the_filters_keep_what_the_tracker_reads() -> None:
    """Spot checks against mistakes in the regexes (anchors, prefixes)."""
    for variable in (
        "QUEUESTATUS",
        "MIXMONITOR_FILENAME",
        "CTI_QUEUE",
        "AGISTATUS",
        "CTI_ORDER_ID",
        "__CTI_DNIS",
        "CTI_TALK_ENDED",
    ):
        assert delivered({"Event": "VarSet", "Variable": variable}), variable
    for dropped in ("QUEUENAME", "BRIDGEPEER", "LOCAL(ARG1)", "ARGC", "CTI_PREFERRED"):
        assert not delivered({"Event": "VarSet", "Variable": dropped}), dropped
    for app in ("AGI", "NoOp", "Queue", "Answer", "Dial"):
        assert delivered({"Event": "Newexten", "Application": app}), app
    assert not delivered({"Event": "Newexten", "Application": "Set"})
