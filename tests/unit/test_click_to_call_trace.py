"""The tracker on a recorded click-to-call (tests/fixtures/traces/clicktocall.ami).

Recorded with ``cti record-trace`` on the devstack's Asterisk 22 while
tests/integration/test_click_to_call.py ran: agent 1001's phone is rung by
``Originate``, answers, and the ``cti-callback`` dialplan dials a customer who is
busy (13800138006), then another who answers and talks (13800138009) until the agent
hangs up. Between the two, a second click while the agent talks was refused, so it
is not in the trace.
"""

from __future__ import annotations

from pathlib import Path

from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from cti.tracking.replay import replay

TRACE = Path(__file__).resolve().parents[1] / "fixtures" / "traces" / "clicktocall.ami"


def calls() -> list[CallSummary]:
    with TRACE.open("rb") as fh:
        return list(replay(fh))


def events(summary: CallSummary, kind: DomainEventType) -> list[DomainEvent]:
    return [e for e in summary.timeline if e.type is kind]


def test_a_busy_customer_is_an_outbound_call_nobody_answered() -> None:
    busy = next(c for c in calls() if c.caller_number == "+8613800138006")
    assert busy.direction == "outbound"
    assert busy.callback_agent == "PJSIP/1001"
    assert busy.customer_dial == "BUSY"
    assert busy.outcome is Outcome.NOT_QUEUED
    assert busy.agent is None and busy.talk_s is None
    # The customer's phone rang for the agent (their desk pops the customer), and the
    # busy line is no ring-no-answer of the agent's.
    [ring] = events(busy, DomainEventType.AGENT_RINGING)
    assert ring.data["interface"] == "PJSIP/1001" and ring.data["callback"] is True
    assert events(busy, DomainEventType.AGENT_RING_NO_ANSWER) == []


def test_a_customer_who_answers_is_the_agents_answered_call() -> None:
    talked = next(c for c in calls() if c.caller_number == "+8613800138009")
    assert talked.direction == "outbound"
    assert talked.outcome is Outcome.ANSWERED
    assert talked.agent == "PJSIP/1001"
    assert talked.customer_dial == "ANSWER"
    assert talked.talk_s is not None and 3.5 <= talked.talk_s <= 6
    assert talked.wait_s is not None and talked.wait_s < 5  # the customer's ringing
    [answered] = events(talked, DomainEventType.ANSWERED)
    assert answered.data["agent"] == "PJSIP/1001"
    # One recording, of the agent's leg (named after the call and the agent's channel).
    [recording] = talked.recordings
    assert recording.endswith(f"/{talked.linkedid}-{talked.linkedid}.wav")


def test_only_the_two_callbacks_are_in_the_trace() -> None:
    assert sorted(c.caller_number or "" for c in calls()) == ["+8613800138006", "+8613800138009"]
