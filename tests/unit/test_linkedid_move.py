"""Channels whose Linkedid changes mid-life, on recorded Asterisk 22 traffic.

Asterisk gives a channel its Linkedid when the channel is created (its own
Uniqueid, or the one of the channel that requested it) and changes it in one
case: a channel pushed into a basic bridge takes the *oldest* Linkedid among the
bridge's channels, and so do the others (``bridge_basic_push`` ->
``ast_bridge_channel_update_linkedids``, oldest by creation time).  Nothing
announces the change: the channel's next event (here its ``BridgeEnter``)
simply carries the new ``Linkedid``.  A call keyed by Linkedid therefore gains a
channel, and a newer call can lose one, or its last one.

``linkedid_move``  attended transfer from the agent's phone (SIP REFER with
                   Replaces): agent 1001's consultation call to 1002 is a call
                   of its own; Asterisk puts 1002's channel into the caller's
                   bridge in place of 1001's, so that channel moves to the
                   caller's call, and the consultation call ends when 1001's
                   consultation leg is hung up.
``linkedid_merge`` AMI Originate rings 1002 (a call of its own: one channel
                   running Wait()), AMI Bridge joins the caller with it: the
                   newer call's only channel moves, so that call is emptied by
                   the move and ends there.

Recorded by ``tests/fixtures/traces/make_traces.py linkedid_move linkedid_merge``
with Asterisk's queue_log and CDR of the same run, which are the ground truth.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from cti.ami.codec import AmiDecoder, AmiMessage
from cti.tracking.events import CallSummary, DomainEventType, Outcome
from cti.tracking.tracker import CallTracker
from tests.unit.test_replay import cdr_epoch, read_cdr, replay_file, same_agent

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
MOVE = TRACES / "linkedid_move.ami"
MERGE = TRACES / "linkedid_merge.ami"


# -- what the trace itself says (parsed here, not by the code under test) --------------


def raw_events(trace: Path) -> list[dict[str, str]]:
    """Every event block of the raw byte stream as a dict (first value of a header)."""
    events = []
    for block in trace.read_bytes().decode("utf-8").split("\r\n\r\n"):
        headers: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                headers.setdefault(key, value)
        if "Event" in headers:
            events.append(headers)
    return events


@dataclass(frozen=True)
class LinkedidChange:
    event: str
    channel: str
    uniqueid: str
    old: str
    new: str
    timestamp: float


def linkedid_changes(trace: Path) -> list[LinkedidChange]:
    """Every event whose channel arrives with another Linkedid than it had before."""
    last: dict[str, str] = {}
    changes = []
    for ev in raw_events(trace):
        uid, linkedid = ev.get("Uniqueid"), ev.get("Linkedid")
        if not uid or not linkedid:
            continue
        if uid in last and last[uid] != linkedid:
            changes.append(
                LinkedidChange(
                    ev["Event"], ev["Channel"], uid, last[uid], linkedid, float(ev["Timestamp"])
                )
            )
        last[uid] = linkedid
    return changes


def the_change(trace: Path) -> LinkedidChange:
    (change,) = linkedid_changes(trace)
    return change


def created_at(trace: Path, uniqueid: str) -> float:
    """``Newchannel`` time of a channel."""
    return next(
        float(ev["Timestamp"])
        for ev in raw_events(trace)
        if ev["Event"] == "Newchannel" and ev.get("Uniqueid") == uniqueid
    )


def hung_up_at(trace: Path, uniqueid: str) -> float:
    return next(
        float(ev["Timestamp"])
        for ev in raw_events(trace)
        if ev["Event"] == "Hangup" and ev.get("Uniqueid") == uniqueid
    )


# -- Asterisk's own records --------------------------------------------------------------


def queue_log_rows(trace: Path) -> list[list[str]]:
    """``time|callid|queue|agent|event|data...`` rows of callers (not CLI member changes)."""
    rows = [line.split("|") for line in trace.with_suffix(".queue_log").read_text().splitlines()]
    return [r for r in rows if len(r) >= 5 and r[1] not in ("", "NONE", "CLI")]


def queue_event(trace: Path, callid: str, event: str) -> list[str]:
    (row,) = [r for r in queue_log_rows(trace) if r[1] == callid and r[4] == event]
    return row


def caller_cdrs(trace: Path) -> list[dict[str, str]]:
    """The caller channel's CDR segments, in order (one per party it was bridged with)."""
    rows = read_cdr(trace.with_suffix(".cdr.csv"))
    rows = [r for r in rows if r["channel"].startswith("PJSIP/callers-")]
    return sorted(rows, key=lambda r: r["start"])


# -- the tracker ------------------------------------------------------------------------


def decoded(trace: Path) -> list[AmiMessage]:
    decoder = AmiDecoder()
    msgs = decoder.feed(trace.read_bytes())
    decoder.finish()
    return msgs


def calls_by_linkedid(trace: Path) -> dict[str, CallSummary]:
    calls = replay_file(trace)
    assert len({c.linkedid for c in calls}) == len(calls), "a call finished twice"
    return {c.linkedid: c for c in calls}


def caller_linkedid(trace: Path) -> str:
    (callid,) = {r[1] for r in queue_log_rows(trace)}
    return callid


# -- the traces really hold the case ------------------------------------------------------


@pytest.mark.parametrize("trace", [MOVE, MERGE], ids=lambda p: p.stem)
def test_a_channel_of_a_newer_call_takes_the_callers_linkedid(trace: Path) -> None:
    change = the_change(trace)
    caller = caller_linkedid(trace)
    assert change.event == "BridgeEnter"
    assert change.channel.startswith("PJSIP/1002-")
    assert change.new == caller
    # the older Linkedid wins: the caller's call began before the 1002 channel's
    assert created_at(trace, caller) < created_at(trace, change.old)
    # and it sticks: every later event of the channel carries the caller's Linkedid
    later = [
        ev["Linkedid"]
        for ev in raw_events(trace)
        if ev.get("Uniqueid") == change.uniqueid and float(ev["Timestamp"]) >= change.timestamp
    ]
    assert later and set(later) == {caller}
    # Asterisk's CDR agrees: the caller's last segment is with the moved channel
    assert caller_cdrs(trace)[-1]["dstchannel"] == change.channel


@pytest.mark.parametrize("trace", [MOVE, MERGE], ids=lambda p: p.stem)
def test_the_moved_channel_is_in_the_callers_call_from_the_move_on(trace: Path) -> None:
    """What a supervisor's live view shows, event by event."""
    change = the_change(trace)
    tracker = CallTracker()
    ended: Counter[str] = Counter()
    born = moved = gone = False
    for msg in decoded(trace):
        for event in tracker.feed(msg):
            if event.type is DomainEventType.ENDED:
                ended[event.linkedid] += 1
        if msg.get("Uniqueid") == change.uniqueid:
            born = born or msg.get("Event") == "Newchannel"
            moved = moved or msg.get("Linkedid") == change.new
            gone = gone or msg.get("Event") == "Hangup"
        holders = [c.linkedid for c in tracker.active_calls() if change.channel in c.channels]
        if not born or gone:
            expected = []
        elif moved:
            expected = [change.new]  # the caller's call, and no other
        else:
            expected = [change.old]
        assert holders == expected, (msg.get("Event"), msg.get("Timestamp"))
    assert moved and gone
    assert tracker.active_calls() == []
    # each call finished exactly once: the caller's and the one the channel left
    assert ended == {change.new: 1, change.old: 1}


# -- linkedid_move: attended transfer by REFER/Replaces ------------------------------------


def test_attended_transfer_caller_call_matches_queue_log_and_cdr() -> None:
    change = the_change(MOVE)
    calls = calls_by_linkedid(MOVE)
    assert set(calls) == {change.new, change.old}, "a phantom or missing call"
    call = calls[change.new]
    enter = queue_event(MOVE, call.linkedid, "ENTERQUEUE")
    connect = queue_event(MOVE, call.linkedid, "CONNECT")
    transfer = queue_event(MOVE, call.linkedid, "ATTENDEDTRANSFER")
    # app_queue logs the transfer instead of COMPLETECALLER/COMPLETEAGENT
    assert not [r for r in queue_log_rows(MOVE) if r[4].startswith("COMPLETE")]
    assert call.queue == enter[2] == "hotline"
    assert call.outcome is Outcome.ANSWERED
    assert same_agent(call.agent, connect[3]), "the agent who answered stays the call's agent"
    assert call.wait_s is not None and abs(call.wait_s - int(connect[5])) <= 1
    segments = caller_cdrs(MOVE)
    assert [s["uniqueid"] for s in segments] == [call.linkedid, call.linkedid]
    assert (call.caller_number, call.dnis) == (segments[0]["src"], segments[0]["dst"])
    assert call.caller_name == "冯七"
    # the caller talks with 1001, then with 1002 until hanging up: one call throughout
    end = cdr_epoch(segments[-1]["end"])
    assert abs(call.ended_at - end) <= 1
    assert call.talk_s is not None and abs(call.talk_s - (end - int(connect[0]))) <= 1.5
    assert call.ended_at >= hung_up_at(MOVE, change.uniqueid) - 0.01
    (transferred,) = [e for e in call.timeline if e.type is DomainEventType.TRANSFERRED]
    assert transferred.data["kind"] == "attended"
    assert transferred.data["target"] == change.channel
    assert transferred.data["transferee"] == segments[0]["channel"]
    assert abs(transferred.timestamp - int(transfer[0])) <= 1


def test_attended_transfer_consultation_call_ends_at_the_transfer() -> None:
    change = the_change(MOVE)
    consult = calls_by_linkedid(MOVE)[change.old]
    (row,) = [r for r in read_cdr(MOVE.with_suffix(".cdr.csv")) if r["uniqueid"] == change.old]
    # 1001's phone dialled 1002 (cti-agents): a call of its own, not a queue call
    assert row["dstchannel"] == change.channel and row["lastapp"] == "Dial"
    assert consult.linkedid not in {r[1] for r in queue_log_rows(MOVE)}
    assert (consult.caller_number, consult.dnis, consult.queue) == (row["src"], row["dst"], None)
    assert (consult.outcome, consult.agent) == (Outcome.ANSWERED, "PJSIP/1002")
    ring = int(row["duration"]) - int(row["billsec"])
    assert consult.wait_s is not None and abs(consult.wait_s - ring) <= 1
    assert consult.talk_s is not None and abs(consult.talk_s - int(row["billsec"])) <= 1
    # it ends with the transfer (1001's consultation leg hangs up), not when the
    # channel it lost to the caller's call hangs up 20 s later
    assert abs(consult.ended_at - cdr_epoch(row["end"])) <= 1
    transfer = queue_event(MOVE, change.new, "ATTENDEDTRANSFER")
    assert abs(consult.ended_at - int(transfer[0])) <= 1
    assert consult.ended_at < hung_up_at(MOVE, change.uniqueid) - 10


# -- linkedid_merge: AMI Bridge empties the newer call -------------------------------------


def test_bridged_caller_call_matches_queue_log_and_cdr() -> None:
    change = the_change(MERGE)
    calls = calls_by_linkedid(MERGE)
    assert set(calls) == {change.new, change.old}, "a phantom or missing call"
    call = calls[change.new]
    connect = queue_event(MERGE, call.linkedid, "CONNECT")
    complete = queue_event(MERGE, call.linkedid, "COMPLETECALLER")
    assert call.queue == connect[2] == "hotline"
    assert call.outcome is Outcome.ANSWERED
    # app_queue never noticed the bridge move: 1001 answered, the caller hung up
    assert same_agent(call.agent, connect[3]) and same_agent(call.agent, complete[3])
    assert call.wait_s is not None and abs(call.wait_s - int(connect[5])) <= 1
    assert call.talk_s is not None and abs(call.talk_s - int(complete[6])) <= 1
    first, second = caller_cdrs(MERGE)
    assert (call.caller_number, call.dnis) == (first["src"], first["dst"])
    assert second["dstchannel"] == change.channel
    assert abs(call.ended_at - cdr_epoch(second["end"])) <= 1
    assert call.ended_at >= hung_up_at(MERGE, change.uniqueid) - 0.01


def test_bridged_away_call_ends_when_its_last_channel_moves() -> None:
    change = the_change(MERGE)
    merged = calls_by_linkedid(MERGE)[change.old]
    # the originated call never queued and nobody answered it as a call of its own
    assert change.old not in {r[1] for r in queue_log_rows(MERGE)}
    assert (merged.outcome, merged.queue, merged.agent, merged.talk_s) == (
        Outcome.NOT_QUEUED,
        None,
        None,
        None,
    )
    assert merged.started_at == created_at(MERGE, change.uniqueid)
    # over the moment its channel joined the caller (CDR: the caller's segment
    # with that channel starts then), not when the channel hangs up 20 s later
    assert merged.ended_at == change.timestamp
    assert abs(merged.ended_at - cdr_epoch(caller_cdrs(MERGE)[-1]["start"])) <= 1
    ended = merged.timeline[-1]
    assert ended.type is DomainEventType.ENDED
    assert change.new in ended.data["note"]
