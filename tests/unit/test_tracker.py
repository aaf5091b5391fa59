"""The call tracker on recorded Asterisk 22 traffic (tests/fixtures/traces)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from cti.ami.codec import AmiDecoder, AmiMessage
from cti.tracking import dispatch
from cti.tracking import resync as resync_module
from cti.tracking.events import CallSummary, DomainEvent, DomainEventType, Outcome
from cti.tracking.model import Call
from cti.tracking.state import Calls
from cti.tracking.tracker import CallTracker

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
# Event streams recorded with Asterisk's queue_log/CDR of the same run (other
# files there, e.g. "*.snapshot.ami" list-action replies, are inputs of other tests).
TRACE_FILES = sorted(
    p
    for p in TRACES.glob("*.ami")
    if p.with_suffix(".queue_log").is_file() and p.with_suffix(".cdr.csv").is_file()
)


def messages(name: str) -> list[AmiMessage]:
    decoder = AmiDecoder()
    out = decoder.feed((TRACES / name).read_bytes())
    decoder.finish()
    return out


def run(tracker: CallTracker, msgs: list[AmiMessage]) -> list[DomainEvent]:
    return [event for msg in msgs for event in tracker.feed(msg)]


def summaries(events: list[DomainEvent]) -> list[CallSummary]:
    return [e.data["summary"] for e in events if e.type is DomainEventType.ENDED]


def test_answered_call_timeline_and_summary() -> None:
    tracker = CallTracker()
    events = run(tracker, messages("answered.ami"))
    kinds = [e.type for e in events]
    assert kinds == [
        DomainEventType.CALL_STARTED,
        DomainEventType.RECORDING_STARTED,
        DomainEventType.QUEUED,
        DomainEventType.AGENT_RINGING,
        DomainEventType.ANSWERED,
        DomainEventType.ENDED,
    ]
    (call,) = summaries(events)
    assert call.caller_name == "张伟"
    assert call.caller_number == "13800138000"
    assert call.dnis == "4008001234"
    assert (call.queue, call.outcome, call.agent) == ("hotline", Outcome.ANSWERED, "PJSIP/1001")
    assert call.hangup_cause == 16
    assert call.timeline[-1] is events[-1]
    recording = events[1].data["file"]
    assert recording.endswith(f"/{call.linkedid}.wav")
    assert call.recordings == (recording,)
    # times come from the events, never from a clock
    assert call.started_at == events[0].timestamp
    assert call.ended_at == events[-1].timestamp > call.started_at


def test_active_calls_while_the_call_is_live() -> None:
    tracker = CallTracker()
    msgs = messages("answered.ami")
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    run(tracker, msgs[: connect + 1])
    (live,) = tracker.active_calls()
    assert (live.caller_name, live.dnis, live.queue) == ("张伟", "4008001234", "hotline")
    assert (live.state, live.agent) == ("answered", "PJSIP/1001")
    assert live.started_at <= tracker.last_timestamp
    run(tracker, msgs[connect + 1 :])
    assert tracker.active_calls() == []


def test_all_traces_release_every_call_and_channel() -> None:
    tracker = CallTracker()
    for trace in TRACE_FILES:
        run(tracker, messages(trace.name))
        assert tracker.active_calls() == [], trace.name
        assert not tracker._calls.channels and not tracker._calls.calls  # memory stays flat


def test_events_without_timestamp_use_the_last_one_seen() -> None:
    tracker = CallTracker()
    msgs = messages("answered.ami")
    stripped = [
        AmiMessage(tuple((k, v) for k, v in m.headers if k != "Timestamp"), m.offset)
        if m.get("Event") == "Hangup"
        else m
        for m in msgs
    ]
    (call,) = summaries(run(tracker, stripped))
    last_hangup = max(i for i, m in enumerate(msgs) if m.get("Event") == "Hangup")
    before = [m for m in stripped[:last_hangup] if "Timestamp" in m]
    assert call.ended_at == float(before[-1]["Timestamp"])


def test_unknown_and_malformed_events_never_raise() -> None:
    tracker = CallTracker()
    odd: list[dict[str, str]] = [
        {},
        {"Event": "Hangup"},
        {"Event": "Hangup", "Uniqueid": "nope", "Cause": "x"},
        {"Event": "AgentConnect", "Uniqueid": "1.1", "Timestamp": "not a number"},
        {"Event": "SomethingNew", "Timestamp": "1.0"},
        {"Response": "Success", "Message": "Authentication accepted"},
        {"Event": "Newchannel", "Uniqueid": "9.9"},
        {"Event": "VarSet", "Uniqueid": "9.9", "Variable": "QUEUESTATUS"},
        {"Event": "Hangup", "Uniqueid": "9.9", "Cause": ""},
    ]
    events = [e for m in odd for e in tracker.feed(m)]
    assert [e.type for e in events] == [DomainEventType.CALL_STARTED, DomainEventType.ENDED]
    assert events[-1].data["summary"].outcome is Outcome.NOT_QUEUED


def test_resync_ends_calls_whose_hangup_was_missed() -> None:
    tracker = CallTracker()
    msgs = messages("answered.ami")
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    run(tracker, msgs[: connect + 1])
    # reconnect: Asterisk reports no channel any more
    events = tracker.resync([])
    (call,) = summaries(events)
    assert call.outcome is Outcome.ANSWERED and call.agent == "PJSIP/1001"
    assert "resync" in events[-1].data["note"]
    assert tracker.active_calls() == []


def test_resync_from_recorded_core_show_channels_rebuilds_the_live_call() -> None:
    msgs = messages("resync.ami")
    snapshot = messages("resync.snapshot.ami")
    channels = [m for m in snapshot if m.get("Event") == "CoreShowChannel"]
    entries = [m for m in snapshot if m.get("Event") == "QueueEntry"]
    assert channels
    # we connected while the call was already talking: only what follows is seen
    linkedid = channels[0]["Linkedid"]
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    tracker = CallTracker()
    started = tracker.resync(channels, entries, now=float(msgs[connect]["Timestamp"]) + 1)
    assert [e.type for e in started] == [DomainEventType.CALL_STARTED]
    (live,) = tracker.active_calls()
    assert (live.linkedid, live.caller_name, live.state) == (linkedid, "孙悦", "answered")
    assert live.agent == "PJSIP/1001"
    (call,) = summaries(run(tracker, msgs[connect + 1 :]))
    assert call.outcome is Outcome.ANSWERED and call.agent == "PJSIP/1001"
    assert call.caller_number == "+8613800138020"


def test_resync_takes_the_call_s_own_channel_for_the_caller_whatever_the_order() -> None:
    """CoreShowChannel's Duration has whole seconds: caller and agent often tie (they do
    in this snapshot), and Asterisk lists them in no set order. The caller is the
    channel whose Uniqueid is the Linkedid."""
    snapshot = messages("resync.snapshot.ami")
    channels = [m for m in snapshot if m.get("Event") == "CoreShowChannel"]
    assert len({c["Duration"] for c in channels}) == 1
    for order in (channels, channels[::-1]):
        tracker = CallTracker()
        tracker.resync(order, now=1795431113.0)
        (live,) = tracker.active_calls()
        assert (live.caller_number, live.agent) == ("+8613800138020", "PJSIP/1001")


def test_resync_adds_a_recording_it_did_not_see_start() -> None:
    """After a restart the recording of a live call is only known from the channel's
    MIXMONITOR_FILENAME (Getvar); it is on the call's timeline, started when the
    channel's Duration says, and in the summary the catalog job is made from."""
    msgs = messages("resync.ami")
    snapshot = messages("resync.snapshot.ami")
    channels = [m for m in snapshot if m.get("Event") == "CoreShowChannel"]
    file = next(m["Value"] for m in msgs if m.get("Variable") == "MIXMONITOR_FILENAME")
    caller = channels[0]["Uniqueid"]
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    now = float(msgs[connect]["Timestamp"]) + 1
    tracker = CallTracker()
    events = tracker.resync(channels, now=now, recordings={caller: file, "1.2": "/elsewhere.wav"})
    assert [e.type for e in events] == [
        DomainEventType.CALL_STARTED,
        DomainEventType.RECORDING_STARTED,
    ]
    assert events[1].timestamp == now - 3 and events[1].data["uniqueid"] == caller
    # Asked again at the next resync: nothing new.
    assert tracker.resync(channels, now=now + 1, recordings={caller: file}) == []
    (call,) = summaries(run(tracker, msgs[connect + 1 :]))
    assert call.recordings == (file,)


def kinds_of(name: str) -> tuple[CallSummary, list[DomainEventType]]:
    (call,) = summaries(run(CallTracker(), messages(name)))
    return call, [e.type for e in call.timeline]


def test_ring_no_answer_then_another_agent_answers() -> None:
    call, kinds = kinds_of("ringnoanswer.ami")
    assert kinds.index(DomainEventType.AGENT_RING_NO_ANSWER) < kinds.index(DomainEventType.ANSWERED)
    rna = next(e for e in call.timeline if e.type is DomainEventType.AGENT_RING_NO_ANSWER)
    assert rna.data["interface"] == "PJSIP/1001"
    assert rna.data["ring_s"] == 15.0  # RingTime arrives in ms
    assert (call.outcome, call.agent) == (Outcome.ANSWERED, "PJSIP/1002")


def test_queue_timeout_is_not_an_abandon() -> None:
    # app_queue raises QueueCallerAbandon on a timeout too; QUEUESTATUS decides
    call, kinds = kinds_of("timeout.ami")
    assert call.outcome is Outcome.TIMEOUT
    assert DomainEventType.QUEUE_TIMEOUT in kinds and DomainEventType.ABANDONED not in kinds
    assert call.caller_number == "anonymous"


def test_caller_hanging_up_in_the_queue_is_abandoned() -> None:
    call, kinds = kinds_of("abandoned.ami")
    assert call.outcome is Outcome.ABANDONED
    assert DomainEventType.ABANDONED in kinds and DomainEventType.QUEUE_TIMEOUT not in kinds
    assert call.caller_number == "+8613912345678"


def test_hold_and_unhold_are_in_the_timeline() -> None:
    call, kinds = kinds_of("hold.ami")
    answered = kinds.index(DomainEventType.ANSWERED)
    assert kinds.index(DomainEventType.HOLD) > answered
    assert kinds.index(DomainEventType.UNHOLD) > kinds.index(DomainEventType.HOLD)
    assert call.outcome is Outcome.ANSWERED


def test_blind_transfer_keeps_the_call_and_its_first_agent() -> None:
    call, _ = kinds_of("blind_transfer.ami")
    transfer = next(e for e in call.timeline if e.type is DomainEventType.TRANSFERRED)
    assert transfer.data["kind"] == "blind" and transfer.data["exten"] == "1002"
    assert call.agent == "PJSIP/1001"
    assert call.talk_s is not None and call.talk_s > 15  # goes on with 1002 after the transfer


def test_concurrent_calls_are_kept_apart() -> None:
    calls = summaries(run(CallTracker(), messages("concurrent.ami")))
    assert len({c.linkedid for c in calls}) == len(calls) == 6
    by_number = {c.caller_number: c for c in calls}
    assert by_number["+8613800138011"].caller_name == "欧阳娜娜"
    assert by_number["13800138014"].caller_name == "王 小 明"  # spaces kept
    assert by_number["13800138015"].caller_name is None  # empty name
    assert by_number["anonymous"].outcome is Outcome.ABANDONED
    agents = [c.agent for c in calls if c.outcome is Outcome.ANSWERED]
    assert sorted(set(agents)) == ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]


def test_preferred_agent_answering_a_direct_dial_counts_as_answered() -> None:
    calls = summaries(run(CallTracker(), messages("preferred_agent.ami")))
    direct, queued = sorted(calls, key=lambda c: c.started_at)
    # Dial(PJSIP/1002) before any queue: answered there, no queue, wait = ring time
    assert (direct.outcome, direct.agent, direct.queue) == (Outcome.ANSWERED, "PJSIP/1002", None)
    assert direct.wait_s is not None and 1.5 < direct.wait_s < 3.0
    # the preferred 1003 did not answer (DialEnd NOANSWER): the queue decided
    assert (queued.outcome, queued.agent, queued.queue) == (
        Outcome.ANSWERED,
        "PJSIP/1001",
        "hotline",
    )


@pytest.mark.parametrize(
    ("trace", "outcome"),
    [("timeout.ami", Outcome.TIMEOUT), ("abandoned.ami", Outcome.ABANDONED)],
)
def test_timeout_and_abandon_told_apart_without_varset(trace: str, outcome: Outcome) -> None:
    # an AMI user without the "dialplan" read class never sees QUEUESTATUS
    msgs = [m for m in messages(trace) if m.get("Event") != "VarSet"]
    (call,) = summaries(run(CallTracker(), msgs))
    assert call.outcome is outcome


def test_recorded_traffic_never_raises() -> None:
    # feed() and resync() let a handler's exception out (the adapter counts it);
    # on real traffic there must be none
    tracker = CallTracker()
    for trace in TRACE_FILES:
        run(tracker, messages(trace.name))
    snapshot = messages("resync.snapshot.ami")
    tracker.resync([m for m in snapshot if m.get("Event") == "CoreShowChannel"])


def test_a_second_recording_in_the_call_is_added_in_order_of_start() -> None:
    """Synthetic: answered.ami with the agent's leg recorded too, once the agent has
    answered (as a transfer whose target context runs MixMonitor would do)."""
    msgs = messages("answered.ami")
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    agent = msgs[connect]
    leg = {
        "Timestamp": agent["Timestamp"],
        "Channel": agent["DestChannel"],
        "Uniqueid": agent["DestUniqueid"],
        "Linkedid": agent["DestLinkedid"],
    }
    agent_file = f"/var/spool/asterisk/monitor/cti/20261123/{agent['DestUniqueid']}.wav"
    injected = [
        {**leg, "Event": "VarSet", "Variable": "MIXMONITOR_FILENAME", "Value": agent_file},
        {**leg, "Event": "MixMonitorStart"},
    ]
    (call,) = summaries(run(CallTracker(), [*msgs[: connect + 1], *injected, *msgs[connect + 1 :]]))
    assert call.recordings == (
        f"/var/spool/asterisk/monitor/cti/20261123/{call.linkedid}.wav",
        agent_file,
    )
    started = [e.data for e in call.timeline if e.type is DomainEventType.RECORDING_STARTED]
    assert [d["file"] for d in started] == list(call.recordings)
    assert started[1]["channel"] == agent["DestChannel"]


class PlantedBug(Exception):
    pass


def test_a_failing_handler_raises_out_of_feed_and_the_tracker_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tracker bug reaches the adapter as an exception (not a log line), and the
    next events are tracked as usual."""

    def broken(calls: Calls, msg: Mapping[str, str], ts: float) -> list[DomainEvent]:
        raise PlantedBug(msg.get("Event"))

    monkeypatch.setitem(dispatch.HANDLERS, "MixMonitorStart", broken)
    tracker = CallTracker()
    events: list[DomainEvent] = []
    failed = []
    for msg in messages("answered.ami"):
        try:
            events.extend(tracker.feed(msg))
        except PlantedBug as exc:
            failed.append(str(exc))
    assert failed == ["MixMonitorStart"]
    (call,) = summaries(events)
    assert (call.outcome, call.agent) == (Outcome.ANSWERED, "PJSIP/1001")
    assert DomainEventType.RECORDING_STARTED not in [e.type for e in call.timeline]
    assert tracker.active_calls() == []


def test_a_failing_resync_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(call: Call, live: Mapping[str, Mapping[str, str]], now: float) -> None:
        raise PlantedBug("resync")

    monkeypatch.setattr(resync_module, "_answer", broken)
    snapshot = [m for m in messages("resync.snapshot.ami") if m.get("Event") == "CoreShowChannel"]
    with pytest.raises(PlantedBug):
        CallTracker().resync(snapshot)


def test_transfer_back_into_the_queue_keeps_the_first_answer() -> None:
    call, kinds = kinds_of("transfer_to_queue.ami")
    assert kinds.count(DomainEventType.QUEUED) == 2
    answers = [e for e in call.timeline if e.type is DomainEventType.ANSWERED]
    assert [a.data["agent"] for a in answers] == ["PJSIP/1001", "PJSIP/1002"]
    assert answers[1].data.get("again") is True
    # outcome, agent and wait belong to the first answer (queue_log's first CONNECT)
    assert (call.outcome, call.agent) == (Outcome.ANSWERED, "PJSIP/1001")
    assert call.wait_s is not None and call.wait_s < 3


def test_odd_caller_ids_come_out_as_asterisk_holds_them() -> None:
    calls = summaries(run(CallTracker(), messages("burst.ami")))
    assert len({c.linkedid for c in calls}) == len(calls) == 14
    by_name = {c.caller_name: c for c in calls}
    # AMI C-escapes CallerIDName (O\'Brien); CDR has Asterisk's own value
    assert by_name["O'Brien"].caller_number == "13800138108"
    assert by_name['Wang, \\"Boss\\" Jr'].caller_number == "13800138101"
    # AMI shows both as "<unknown>"; the dialplan's first NoOp tells them apart
    assert by_name["Unknown"].caller_number == "<unknown>"
    assert by_name["无号码"].caller_number is None
    assert by_name["张三"].caller_number == "+86 138 0013 8000"
    outcomes = {c.outcome for c in calls}
    assert outcomes == {Outcome.ANSWERED, Outcome.ABANDONED, Outcome.TIMEOUT}


def test_blind_transfer_by_sip_refer_from_the_agent_phone() -> None:
    for call in summaries(run(CallTracker(), messages("refer_transfer.ami"))):
        transfer = next(e for e in call.timeline if e.type is DomainEventType.TRANSFERRED)
        assert transfer.data["kind"] == "blind" and transfer.data["exten"] == "1002"
        assert (call.outcome, call.agent) == (Outcome.ANSWERED, "PJSIP/1001")


def test_ringall_member_removed_while_ringing_still_answers() -> None:
    ringall = summaries(run(CallTracker(), messages("ringall.ami")))
    assert sorted(str(c.agent) for c in ringall) == ["None", "PJSIP/1001", "PJSIP/1002"]
    paused = summaries(run(CallTracker(), messages("pauses.ami")))
    # 1003 logged in (QueueAdd), was removed while ringing, and answered anyway
    assert "PJSIP/1003" in {c.agent for c in paused}


def test_call_facts_agree_with_the_live_call_at_every_step_of_every_trace() -> None:
    """The screen-pop's cheap lookup reads the same values as the full snapshot."""
    for path in sorted(TRACES.glob("*.ami")):
        tracker = CallTracker()
        for msg in messages(path.name):
            tracker.feed(msg)
            for live in tracker.active_calls():
                facts = tracker.call_facts(live.linkedid)
                assert facts is not None, path.name
                assert (
                    facts.caller_number,
                    facts.caller_name,
                    facts.dnis,
                    facts.queue,
                    facts.order_id,
                    facts.direction,
                ) == (
                    live.caller_number,
                    live.caller_name,
                    live.dnis,
                    live.queue,
                    live.order_id,
                    live.direction,
                ), path.name
        assert tracker.active_calls() == []
    assert tracker.call_facts("1795430853.8") is None  # ended
    assert CallTracker().call_facts("no-such-call") is None


def test_call_facts_of_a_confirmation_call_name_its_order_and_direction() -> None:
    """The dialplan's CTI_ORDER_ID and CTI_DIRECTION on the caller's channel reach the facts."""
    tracker = CallTracker()
    msgs = messages("answered.ami")
    first = next(i for i, m in enumerate(msgs) if m.get("Event") == "Newchannel")
    assert msgs[first].get("Uniqueid") == "1795430853.8"
    run(tracker, msgs[: first + 1])
    before = tracker.call_facts("1795430853.8")
    assert before is not None and (before.order_id, before.direction) == (None, "inbound")
    for variable, value in (("CTI_ORDER_ID", "SO-1"), ("CTI_DIRECTION", "outbound")):
        tracker.feed(
            {"Event": "VarSet", "Uniqueid": "1795430853.8", "Variable": variable, "Value": value}
        )
    facts = tracker.call_facts("1795430853.8")
    assert facts is not None
    assert (facts.order_id, facts.direction) == ("SO-1", "outbound")
    assert (facts.caller_number, facts.caller_name) == ("13800138000", "张伟")


def test_the_talk_ends_when_the_agent_hangs_up_and_the_caller_stays_for_the_survey() -> None:
    """``CTI_TALK_ENDED`` (the dialplan, before the survey): the survey is not talk time."""
    msgs = messages("answered.ami")
    agent_gone = next(
        i for i, m in enumerate(msgs) if m.get("Event") == "Hangup" and m["Uniqueid"].endswith(".9")
    )
    at = float(msgs[agent_gone]["Timestamp"])
    marker = {
        "Event": "VarSet",
        "Uniqueid": "1795430853.8",
        "Variable": "CTI_TALK_ENDED",
        "Value": "1",
        "Timestamp": f"{at:.6f}",
    }
    # The caller rates the call for 20 s before hanging up.
    later = [
        {**m, "Timestamp": f"{float(m['Timestamp']) + 20:.6f}"} if "Timestamp" in m else m
        for m in msgs[agent_gone + 1 :]
    ]
    (plain,) = summaries(run(CallTracker(), msgs))
    (surveyed,) = summaries(run(CallTracker(), [*msgs[: agent_gone + 1], marker, *later]))
    assert surveyed.ended_at == pytest.approx(plain.ended_at + 20)
    assert surveyed.talk_s is not None and plain.talk_s is not None
    assert surveyed.talk_s == pytest.approx(at - surveyed.started_at - surveyed.wait_s, abs=1)
    assert surveyed.talk_s <= plain.talk_s
    assert (surveyed.outcome, surveyed.agent) == (Outcome.ANSWERED, "PJSIP/1001")


def test_the_talk_end_marker_before_an_answer_changes_nothing() -> None:
    msgs = messages("abandoned.ami")
    caller = next(m for m in msgs if m.get("Event") == "Newchannel")
    marker = {"Event": "VarSet", "Uniqueid": caller["Uniqueid"], "Variable": "CTI_TALK_ENDED"}
    first = next(i for i, m in enumerate(msgs) if m.get("Event") == "Newchannel")
    with_marker = [*msgs[: first + 1], marker, *msgs[first + 1 :]]
    (marked,) = summaries(run(CallTracker(), with_marker))
    (plain,) = summaries(run(CallTracker(), msgs))
    assert (marked.outcome, marked.talk_s, marked.wait_s, marked.ended_at) == (
        plain.outcome,
        plain.talk_s,
        plain.wait_s,
        plain.ended_at,
    )
    assert marked.outcome is Outcome.ABANDONED and marked.talk_s is None
