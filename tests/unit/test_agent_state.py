"""The agent state tracker on recorded Asterisk 22 traffic (tests/fixtures/traces)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.agents.state import AgentState, AgentStateChanged, AgentStateTracker, DeviceState
from cti.ami.codec import AmiDecoder, AmiMessage
from cti.clock import FixedClock

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
S = AgentState


def messages(name: str) -> list[AmiMessage]:
    decoder = AmiDecoder()
    out = decoder.feed((TRACES / name).read_bytes())
    decoder.finish()
    return out


def run(tracker: AgentStateTracker, msgs: list[AmiMessage]) -> list[AgentStateChanged]:
    return [change for msg in msgs for change in tracker.feed(msg)]


def path(changes: list[AgentStateChanged], interface: str) -> list[AgentState]:
    return [c.state for c in changes if c.interface == interface]


def first(msgs: list[AmiMessage], event: str, interface: str | None = None) -> AmiMessage:
    return next(
        m
        for m in msgs
        if m.get("Event") == event and (interface is None or m.get("Interface") == interface)
    )


def frozen_clock(at: float = 0.0) -> AgentStateTracker:
    """A tracker whose host clocks stand still: "Asterisk now" is the last event's time."""
    return AgentStateTracker(clock=FixedClock(at))


def test_answered_call_rings_talks_and_frees_the_agent() -> None:
    msgs = messages("answered.ami")
    tracker = frozen_clock()
    changes = run(tracker, msgs)
    assert path(changes, "PJSIP/1001") == [S.RINGING, S.ON_CALL, S.AVAILABLE]
    called, connect, complete = (
        first(msgs, "AgentCalled"),
        first(msgs, "AgentConnect"),
        first(msgs, "AgentComplete"),
    )
    # Asterisk reports the ringing phone as BUSY (device_state_busy_at=1) right
    # after AgentCalled; the agent is still ringing, not on a call.
    assert [c.since for c in changes] == [
        float(called["Timestamp"]),
        float(connect["Timestamp"]),
        float(complete["Timestamp"]),
    ]
    assert changes[0].previous is S.LOGGED_OUT and changes[0].queue == "hotline"
    assert changes[0].member_name == "1001"
    status = tracker.status("PJSIP/1001", now=float(complete["Timestamp"]) + 1)
    assert status.state is S.AVAILABLE
    assert status.device is DeviceState.NOT_INUSE
    assert status.last_call is not None and int(status.last_call) == int(
        float(complete["Timestamp"])
    )
    assert [q.queue for q in status.queues] == ["hotline"]
    assert status.calls_taken == 1


def test_state_at_each_step_of_the_answered_call() -> None:
    msgs = messages("answered.ami")
    tracker = frozen_clock()
    seen: list[tuple[str, bool]] = []
    for msg in msgs:
        tracker.feed(msg)
        if msg.get("Event") in ("AgentCalled", "AgentConnect", "AgentComplete"):
            seen.append((tracker.status("PJSIP/1001").state, tracker.is_available("PJSIP/1001")))
    assert seen == [(S.RINGING, False), (S.ON_CALL, False), (S.AVAILABLE, False)]
    # AgentComplete comes before the device goes idle (QueueMemberStatus Status 1).
    assert tracker.is_available("PJSIP/1001")
    assert not tracker.is_available("PJSIP/1002")


def test_phone_busy_while_it_rings_and_talks_and_free_after() -> None:
    """Click-to-call asks this before ringing an agent: no second call on top of one."""
    msgs = messages("answered.ami")
    tracker = frozen_clock()
    assert not tracker.phone_busy("PJSIP/1001") and tracker.phone_reachable("PJSIP/1001")
    seen: list[bool] = []
    for msg in msgs:
        tracker.feed(msg)
        if msg.get("Event") in ("AgentCalled", "AgentConnect"):
            seen.append(tracker.phone_busy("PJSIP/1001"))
    assert seen == [True, True]
    assert not tracker.phone_busy("PJSIP/1001")
    assert tracker.phone_reachable("PJSIP/1001")


def test_ring_no_answer_then_caller_abandons_while_ringing_again() -> None:
    msgs = messages("abandoned.ami")
    changes = run(frozen_clock(), msgs)
    # 1: the device turns BUSY a few µs before AgentCalled in this recording, so
    # the agent shows on_call for that moment, then ringing.
    # 2: AgentRingNoAnswer frees it; 3: rung again; 4: the caller hangs up while
    # it rings -- no Agent* event, the device going idle ends the ring.
    assert path(changes, "PJSIP/1001") == [
        S.ON_CALL,
        S.RINGING,
        S.AVAILABLE,
        S.RINGING,
        S.AVAILABLE,
    ]
    abandon = first(msgs, "QueueCallerAbandon")
    assert changes[-1].since >= float(abandon["Timestamp"])


def test_queue_timeout_frees_the_ringing_agent() -> None:
    changes = run(frozen_clock(), messages("timeout.ami"))
    assert path(changes, "PJSIP/1001") == [S.RINGING, S.AVAILABLE]


def test_unanswered_agent_replaced_by_one_who_answers() -> None:
    """1001 rings unanswered and is removed from the queue; 1002 is added and answers."""
    changes = run(frozen_clock(), messages("ringnoanswer.ami"))
    assert path(changes, "PJSIP/1001") == [S.RINGING, S.AVAILABLE, S.LOGGED_OUT]
    assert path(changes, "PJSIP/1002") == [S.AVAILABLE, S.RINGING, S.ON_CALL, S.AVAILABLE]


def test_concurrent_calls_three_agents() -> None:
    msgs = messages("concurrent.ami")
    tracker = frozen_clock()
    changes = run(tracker, msgs)
    for ext in ("1001", "1002"):
        assert path(changes, f"PJSIP/{ext}") == [S.RINGING, S.ON_CALL, S.AVAILABLE] * 2
    assert path(changes, "PJSIP/1003") == [S.RINGING, S.ON_CALL, S.AVAILABLE]
    # halfway: every agent busy
    tracker2 = frozen_clock()
    third_connect = [m for m in msgs if m.get("Event") == "AgentConnect"][2]
    for msg in msgs:
        tracker2.feed(msg)
        if msg is third_connect:
            break
    assert {s.interface: s.state for s in tracker2.statuses()} == {
        "PJSIP/1001": S.ON_CALL,
        "PJSIP/1002": S.ON_CALL,
        "PJSIP/1003": S.ON_CALL,
    }
    assert not any(tracker2.is_available(f"PJSIP/{e}") for e in ("1001", "1002", "1003"))


def test_resync_snapshot_mid_call() -> None:
    snapshot = [m for m in messages("resync.snapshot.ami") if m.get("Event") == "QueueMember"]
    tracker = frozen_clock()
    login = float(snapshot[0]["LoginTime"])
    changes = tracker.resync(snapshot, now=login + 30)
    assert [(c.interface, c.previous, c.state) for c in changes] == [
        ("PJSIP/1001", S.LOGGED_OUT, S.ON_CALL)
    ]
    status = tracker.status("PJSIP/1001", now=login + 31)
    assert status.member_name == "1001"
    assert status.queues[0].logged_in_since == login
    # the live events after the snapshot end the call
    later = messages("resync.ami")
    complete = first(later, "AgentComplete")
    after = run(tracker, later[later.index(complete) :])
    assert path(after, "PJSIP/1001") == [S.AVAILABLE]


def test_resync_logs_out_members_that_disappeared() -> None:
    tracker = frozen_clock()
    run(tracker, messages("answered.ami"))
    changes = tracker.resync([], now=tracker.last_timestamp + 5)
    assert [(c.interface, c.state) for c in changes] == [("PJSIP/1001", S.LOGGED_OUT)]
    assert tracker.status("PJSIP/1001").state is S.LOGGED_OUT
    assert not tracker.is_available("PJSIP/1001")


def test_unknown_interface_is_logged_out() -> None:
    tracker = frozen_clock()
    status = tracker.status("PJSIP/9999")
    assert status.state is S.LOGGED_OUT and status.queues == ()
    assert not tracker.is_available("PJSIP/9999")


@pytest.mark.parametrize("name", sorted(p.name for p in TRACES.glob("*.ami")))
def test_every_prefix_of_every_trace_is_handled(name: str) -> None:
    """Cut anywhere (a reconnect mid-call), the tracker never raises."""
    msgs = messages(name)
    for cut in range(0, len(msgs), max(1, len(msgs) // 25)):
        tracker = frozen_clock()
        run(tracker, msgs[cut:])
        tracker.statuses()


_KEYS = (
    "Event",
    "Timestamp",
    "Queue",
    "Interface",
    "Location",
    "MemberName",
    "Status",
    "InCall",
    "Paused",
    "PausedReason",
    "LastCall",
    "LastPause",
    "LoginTime",
    "Wrapuptime",
    "CallsTaken",
    "Penalty",
)
_EVENTS = (
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberPause",
    "QueueMemberStatus",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
    "AgentDump",
    "QueueMember",
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(_KEYS),
            st.one_of(
                st.sampled_from(
                    ("", "0", "1", "3", "6", "nan", "-5", "1e400", "PJSIP/1001", "hotline")
                ),
                st.text(max_size=8),
            ),
        ).map(lambda d: {**d, "Event": d.get("Event") or "QueueMemberStatus"}),
        max_size=30,
    ),
    st.sampled_from(_EVENTS),
)
def test_odd_input_never_raises(events: list[dict[str, str]], kind: str) -> None:
    tracker = frozen_clock(1e9)
    for event in events:
        tracker.feed({**event, "Event": kind} if event["Event"] == "x" else event)
    tracker.resync(events, now=1e9)
    tracker.expire(2e9)
    for status in tracker.statuses():
        tracker.is_available(status.interface)


# -- agent_states.ami: recorded by tests/fixtures/traces/make_agent_traces.py ---------------
# QueueAdd (Wrapuptime 5), pause lunch, pause training, unpause, two queue calls
# (the second waits through the first one's wrap-up), QueueRemove.


def agent_states() -> tuple[list[AmiMessage], list[AgentStateChanged], AgentStateTracker]:
    msgs = messages("agent_states.ami")
    tracker = frozen_clock()
    return msgs, run(tracker, msgs), tracker


def test_login_pause_calls_wrap_up_logout_path() -> None:
    _, changes, _ = agent_states()
    assert [(c.previous, c.state, c.paused_reason) for c in changes] == [
        (S.LOGGED_OUT, S.AVAILABLE, None),
        (S.AVAILABLE, S.PAUSED, "lunch"),
        (S.PAUSED, S.PAUSED, "training"),
        (S.PAUSED, S.AVAILABLE, None),
        (S.AVAILABLE, S.RINGING, None),
        (S.RINGING, S.ON_CALL, None),
        (S.ON_CALL, S.WRAP_UP, None),
        (S.WRAP_UP, S.AVAILABLE, None),
        (S.AVAILABLE, S.RINGING, None),
        (S.RINGING, S.ON_CALL, None),
        (S.ON_CALL, S.WRAP_UP, None),
        (S.WRAP_UP, S.AVAILABLE, None),
        (S.AVAILABLE, S.LOGGED_OUT, None),
    ]
    assert {c.interface for c in changes} == {"PJSIP/1001"}


def test_times_come_from_the_events() -> None:
    msgs, changes, _ = agent_states()
    pauses = [m for m in msgs if m.get("Event") == "QueueMemberPause"]
    assert changes[1].since == float(pauses[0]["Timestamp"])
    # a new reason keeps the pause's start
    assert changes[2].since == changes[1].since
    assert changes[3].since == float(pauses[2]["Timestamp"])
    added, removed = first(msgs, "QueueMemberAdded"), first(msgs, "QueueMemberRemoved")
    assert changes[0].since == float(added["Timestamp"])
    assert changes[-1].since == float(removed["Timestamp"])


def test_wrap_up_matches_what_asterisk_enforced() -> None:
    """The second caller was waiting; Asterisk rang 1001 only when our wrap-up ended."""
    msgs, changes, _ = agent_states()
    completes = [m for m in msgs if m.get("Event") == "AgentComplete"]
    last_calls = [
        m["LastCall"] for m in msgs if m.get("Event") == "QueueMemberStatus" and m["Status"] == "1"
    ]
    wrap, free, ring = changes[6], changes[7], changes[8]
    assert wrap.since == float(completes[0]["Timestamp"])
    # app_queue counts from LastCall (whole seconds): free at LastCall + Wrapuptime
    assert free.since == int(last_calls[0]) + 5
    assert free.since <= ring.since < free.since + 1
    # the second wrap-up ended on its own too, before the logout
    assert changes[11].since == int(last_calls[1]) + 5


def test_is_available_through_the_recording() -> None:
    msgs = messages("agent_states.ami")
    clock = FixedClock(0.0)
    tracker = AgentStateTracker(clock=clock)
    answers: dict[str, bool] = {}
    complete_at = 0.0
    for msg in msgs:
        tracker.feed(msg)
        event = msg.get("Event") or ""
        if event == "QueueMemberPause":
            answers.setdefault(f"pause:{msg['Paused']}:{msg['PausedReason']}", False)
            answers[f"pause:{msg['Paused']}:{msg['PausedReason']}"] = tracker.is_available(
                "PJSIP/1001"
            )
        elif event in ("QueueMemberAdded", "AgentCalled", "AgentConnect", "QueueMemberRemoved"):
            answers.setdefault(event, tracker.is_available("PJSIP/1001"))
        elif event == "QueueMemberStatus" and msg["LastCall"] != "0" and not complete_at:
            # the first call is over and the phone idle again (Status 1)
            complete_at = float(msg["LastCall"])
            answers["wrap_up"] = tracker.is_available("PJSIP/1001")
            # time passes on the host; Asterisk's clock moves with it
            clock.advance(complete_at + 4.9 - tracker.asterisk_now())
            answers["wrap_up+4.9"] = tracker.is_available("PJSIP/1001")
            clock.advance(0.2)
            answers["wrap_up+5.1"] = tracker.is_available("PJSIP/1001")
    assert answers == {
        "QueueMemberAdded": True,
        "pause:1:lunch": False,
        "pause:1:training": False,
        "pause:0:": True,
        "AgentCalled": False,
        "AgentConnect": False,
        "wrap_up": False,
        "wrap_up+4.9": False,
        "wrap_up+5.1": True,
        "QueueMemberRemoved": False,
    }


def test_status_while_paused_and_in_wrap_up() -> None:
    msgs = messages("agent_states.ami")
    tracker = frozen_clock()
    pause = first(msgs, "QueueMemberPause")
    for msg in msgs[: msgs.index(pause) + 1]:
        tracker.feed(msg)
    paused = tracker.status("PJSIP/1001", now=float(pause["Timestamp"]) + 60)
    assert (paused.state, paused.paused_reason) == (S.PAUSED, "lunch")
    assert paused.paused_since == paused.since == float(pause["Timestamp"])
    assert paused.queues[0].paused and paused.queues[0].paused_reason == "lunch"

    complete = first(msgs, "AgentComplete")
    for msg in msgs[msgs.index(pause) + 1 : msgs.index(complete) + 1]:
        tracker.feed(msg)
    at = float(complete["Timestamp"])
    wrap = tracker.status("PJSIP/1001", now=at + 2)
    assert wrap.state is S.WRAP_UP and wrap.wrap_up_until == pytest.approx(at + 5)
    assert wrap.paused_reason is None
    after = tracker.status("PJSIP/1001", now=at + 6)
    assert after.state is S.AVAILABLE and after.since == wrap.wrap_up_until
    assert after.wrap_up_until is None


def test_asterisk_wrapuptime_wins_over_the_default() -> None:
    """The default applies only when Asterisk does not say; here it says 5 and 0."""
    msgs = messages("agent_states.ami")
    tracker = AgentStateTracker(default_wrapup_s=60, clock=FixedClock(0.0))
    changes = run(tracker, msgs)
    assert changes[7].since - changes[6].since == pytest.approx(5, abs=1)
    # answered.ami: a member added without Wrapuptime (0) is free at once, as in Asterisk
    tracker = AgentStateTracker(default_wrapup_s=60, clock=FixedClock(0.0))
    assert path(run(tracker, messages("answered.ami")), "PJSIP/1001")[-1] is S.AVAILABLE


def test_resync_while_paused() -> None:
    snapshot = [
        m for m in messages("agent_states.paused.snapshot.ami") if m.get("Event") == "QueueMember"
    ]
    tracker = frozen_clock()
    last_pause = float(snapshot[0]["LastPause"])
    changes = tracker.resync(snapshot, now=last_pause + 90)
    assert [(c.state, c.paused_reason, c.since) for c in changes] == [
        (S.PAUSED, "lunch", last_pause)
    ]
    status = tracker.status("PJSIP/1001", now=last_pause + 91)
    assert status.paused_since == last_pause
    assert status.queues[0].logged_in_since == float(snapshot[0]["LoginTime"])
    # nothing changed: a second resync reports nothing
    assert tracker.resync(snapshot, now=last_pause + 95) == []


def test_resync_during_wrap_up() -> None:
    snapshot = [
        m for m in messages("agent_states.wrapup.snapshot.ami") if m.get("Event") == "QueueMember"
    ]
    last_call = float(snapshot[0]["LastCall"])
    # no event seen yet: "Asterisk now" is the host's time (same clocks here)
    tracker = AgentStateTracker(clock=FixedClock(last_call + 2))
    changes = tracker.resync(snapshot)
    assert [(c.state, c.since) for c in changes] == [(S.WRAP_UP, last_call)]
    assert not tracker.is_available("PJSIP/1001")
    assert tracker.status("PJSIP/1001").wrap_up_until == last_call + 5
    assert tracker.expire(last_call + 4) == []
    (done,) = tracker.expire(last_call + 5.5)
    assert (done.state, done.since) == (S.AVAILABLE, last_call + 5)
    assert tracker.status("PJSIP/1001", now=last_call + 6).calls_taken == 1


# -- wrap-up on Asterisk's clock, whatever the CTI host's clock says ------------------------


def replay_in_real_time(
    tracker: AgentStateTracker, clock: FixedClock, msgs: list[AmiMessage]
) -> list[AgentStateChanged]:
    """Feed ``msgs`` while the host's clocks move as Asterisk's did between them."""
    changes: list[AgentStateChanged] = []
    previous: float | None = None
    for msg in msgs:
        if "Timestamp" in msg:
            at = float(msg["Timestamp"])
            if previous is not None:
                clock.advance(at - previous)
            previous = at
        changes.extend(tracker.feed(msg))
    return changes


def first_call_done(msgs: list[AmiMessage]) -> int:
    """Index of the QueueMemberStatus that brings the first call's ``LastCall``."""
    return next(
        i
        for i, m in enumerate(msgs)
        if m.get("Event") == "QueueMemberStatus" and m.get("LastCall", "0") != "0"
    )


@pytest.mark.parametrize("skew", [3600.0, -3600.0], ids=["asterisk-ahead", "asterisk-behind"])
def test_wrap_up_lasts_its_time_whatever_the_hosts_clock_says(skew: float) -> None:
    """Asterisk's clock is an hour ahead of (behind) the CTI host's: the agent is in
    wrap-up for exactly its ``Wrapuptime`` (5 s) after ``LastCall``, as app_queue
    enforces it, checked the way cti/app.py does -- ``expire()`` on a timer."""
    msgs = messages("agent_states.ami")
    done = first_call_done(msgs)
    clock = FixedClock(float(msgs[0]["Timestamp"]) - skew)
    tracker = AgentStateTracker(clock=clock)
    replay_in_real_time(tracker, clock, msgs[: done + 1])
    until = float(msgs[done]["LastCall"]) + 5
    assert tracker.status("PJSIP/1001").state is S.WRAP_UP
    assert tracker.expire() == []

    # the host's timer ticks every 0.1 s
    ticks: list[list[AgentStateChanged]] = []
    while not (ticks and ticks[-1]) and len(ticks) < 200:
        clock.advance(0.1)
        ticks.append(tracker.expire())
    (change,) = ticks[-1]
    assert (change.previous, change.state, change.since) == (S.WRAP_UP, S.AVAILABLE, until)
    # reported on the first tick at or after LastCall + 5 on Asterisk's clock
    tick_at = float(msgs[done]["Timestamp"]) + 0.1 * len(ticks)
    assert until <= tick_at < until + 0.1 + 1e-6
    assert tracker.status("PJSIP/1001").state is S.AVAILABLE
    assert tracker.is_available("PJSIP/1001")


@pytest.mark.parametrize("skew", [3600.0, -3600.0], ids=["asterisk-ahead", "asterisk-behind"])
def test_queries_without_a_time_use_asterisks_clock(skew: float) -> None:
    msgs = messages("agent_states.ami")
    done = first_call_done(msgs)
    clock = FixedClock(float(msgs[0]["Timestamp"]) - skew)
    tracker = AgentStateTracker(clock=clock)
    replay_in_real_time(tracker, clock, msgs[: done + 1])
    until = float(msgs[done]["LastCall"]) + 5
    clock.advance(until - 0.05 - tracker.asterisk_now())
    assert tracker.asterisk_now() == pytest.approx(until - 0.05)
    assert tracker.status("PJSIP/1001").state is S.WRAP_UP
    assert [s.state for s in tracker.statuses()] == [S.WRAP_UP]
    assert not tracker.is_available("PJSIP/1001")
    clock.advance(0.1)
    assert tracker.status("PJSIP/1001").state is S.AVAILABLE
    assert [s.state for s in tracker.statuses()] == [S.AVAILABLE]
    assert tracker.is_available("PJSIP/1001")


def test_resync_before_any_event_takes_asterisks_time_from_last_call() -> None:
    """Connected to an Asterisk an hour ahead, with no event yet: the snapshot's
    ``LastCall`` is in the past on Asterisk's clock, so the wrap-up runs from
    there for its 5 s instead of for an hour and 5 s."""
    snapshot = [
        m for m in messages("agent_states.wrapup.snapshot.ami") if m.get("Event") == "QueueMember"
    ]
    last_call = float(snapshot[0]["LastCall"])
    clock = FixedClock(last_call - 3600)
    tracker = AgentStateTracker(clock=clock)
    assert [c.state for c in tracker.resync(snapshot)] == [S.WRAP_UP]
    clock.advance(4.9)
    assert tracker.expire() == []
    clock.advance(0.2)
    assert [(c.state, c.since) for c in tracker.expire()] == [(S.AVAILABLE, last_call + 5)]


class PlantedBug(Exception):
    pass


def test_a_failing_handler_raises_out_of_feed_and_the_tracker_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug reaches the adapter as an exception (not a log line); later events still count."""
    msgs = messages("agent_states.ami")
    tracker = frozen_clock()
    real = tracker._update_member
    planted: list[bool] = []

    def first_pause_fails(*args: Any, pause_event: bool) -> None:
        if pause_event and not planted:
            planted.append(True)
            raise PlantedBug
        real(*args, pause_event=pause_event)

    monkeypatch.setattr(tracker, "_update_member", first_pause_fails)
    changes: list[AgentStateChanged] = []
    failed = []
    for msg in msgs:
        try:
            changes.extend(tracker.feed(msg))
        except PlantedBug:
            failed.append(msg.get("PausedReason"))
    assert failed == ["lunch"]
    # the next pause (training) is seen; the calls and the logout too
    assert [(c.state, c.paused_reason) for c in changes[:3]] == [
        (S.AVAILABLE, None),
        (S.PAUSED, "training"),
        (S.AVAILABLE, None),
    ]
    assert changes[-1].state is S.LOGGED_OUT


def test_a_failing_resync_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = frozen_clock()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise PlantedBug

    monkeypatch.setattr(tracker, "_update_member", broken)
    snapshot = [
        m for m in messages("agent_states.paused.snapshot.ami") if m.get("Event") == "QueueMember"
    ]
    with pytest.raises(PlantedBug):
        tracker.resync(snapshot, now=0.0)
