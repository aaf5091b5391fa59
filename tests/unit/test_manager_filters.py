"""The AMI user's event filters (dialplans/manager.conf) drop nothing the service uses.

Asterisk applies the ``eventfilter`` lines before it writes an event to our session.
Every recorded trace (tests/fixtures/traces, captured from Asterisk 22 without these
filters) is replayed twice -- whole, and with the events the filters drop taken out
-- through the call tracker and the agent state tracker: the domain events (calls,
their timelines and summaries) and the agent states must be the same. The filters
must also really drop a large share of the hotline's traffic (the reason they exist).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cti.agents.state import AgentStateTracker
from cti.ami.codec import AmiDecoder, AmiMessage
from cti.clock import FixedClock
from cti.tracking.events import CallSummary, DomainEvent
from cti.tracking.tracker import CallTracker

ROOT = Path(__file__).resolve().parents[2]
MANAGER_CONF = ROOT / "dialplans" / "manager.conf"
TRACES = sorted((ROOT / "tests" / "fixtures" / "traces").glob("*.ami"))
CALL_TRACES = [t for t in TRACES if ".snapshot." not in t.name]


@dataclass(frozen=True)
class EventFilter:
    """One ``eventfilter(criteria) = expression`` line of the advanced syntax."""

    exclude: bool
    name: str | None
    header: str | None
    method: str
    expression: str

    def matches(self, msg: Mapping[str, str]) -> bool:
        if self.name is not None and msg.get("Event") != self.name:
            return False
        if self.header is None:
            return True
        value = msg.get(self.header)
        if value is None:
            return False
        tests: dict[str, Callable[[str], bool]] = {
            "none": lambda v: True,
            "exact": lambda v: v == self.expression,
            "starts_with": lambda v: v.startswith(self.expression),
            "ends_with": lambda v: v.endswith(self.expression),
            "contains": lambda v: self.expression in v,
            "regex": lambda v: re.search(self.expression, v) is not None,
        }
        return tests[self.method](value)


_LINE = re.compile(r"^eventfilter\((?P<criteria>[^=]*)\)\s*=\s*(?P<expr>.*)$")
_CRITERION = re.compile(r"(\w+)\(([^)]*)\)")


def filters(text: str) -> list[EventFilter]:
    found: list[EventFilter] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("eventfilter"):
            continue
        m = _LINE.match(line)
        assert m is not None, f"not the advanced eventfilter syntax: {line}"
        criteria = dict(_CRITERION.findall(m["criteria"]))
        assert set(criteria) <= {"action", "name", "header", "method"}, line
        found.append(
            EventFilter(
                exclude=criteria.get("action", "include") == "exclude",
                name=criteria.get("name"),
                header=criteria.get("header"),
                method=criteria.get("method", "none"),
                expression=m["expr"].strip(),
            )
        )
    return found


FILTERS = filters(MANAGER_CONF.read_text())


def delivered(msg: Mapping[str, str]) -> bool:
    """Asterisk's rule for exclusions only: an event goes out unless one matches it."""
    return not any(f.matches(msg) for f in FILTERS if f.exclude)


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
    assert FILTERS and all(f.exclude for f in FILTERS)


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
