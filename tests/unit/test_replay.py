"""Replay of recorded Asterisk 22 traces against Asterisk's own queue_log and CDR.

Every ``tests/fixtures/traces/<name>.ami`` was captured from the devstack by
``tests/fixtures/traces/make_traces.py`` together with ``<name>.queue_log`` and
``<name>.cdr.csv`` of the same run; those two files are the ground truth.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.ami.codec import AmiDecodeError, AmiDecoder, AmiTruncatedError
from cti.tracking.events import CallSummary, DomainEventType
from cti.tracking.replay import replay, run_replay
from cti.tracking.tracker import CallTracker
from tests.groundtruth import (
    cdr_epoch,
    expected_cause,
    final_cdr_row,
    read_cdr,
    read_queue_log,
    same_agent,
)

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
# Event streams recorded with Asterisk's queue_log/CDR of the same run (other
# files there, e.g. "*.snapshot.ami" list-action replies, are inputs of other tests).
TRACE_FILES = sorted(
    p
    for p in TRACES.glob("*.ami")
    if p.with_suffix(".queue_log").is_file() and p.with_suffix(".cdr.csv").is_file()
)
# Every recorded run with a queue_log (agent_states.ami has no CDR) / with a CDR.
QUEUE_LOG_TRACES = sorted(p for p in TRACES.glob("*.ami") if p.with_suffix(".queue_log").is_file())
CDR_TRACES = sorted(p for p in TRACES.glob("*.ami") if p.with_suffix(".cdr.csv").is_file())


def replay_file(path: Path, chunk_size: int = 65536) -> list[CallSummary]:
    with path.open("rb") as fh:
        return list(replay(fh, chunk_size))


def as_json(calls: list[CallSummary]) -> list[dict[str, object]]:
    return [c.to_json_dict() for c in calls]


# -- tests ------------------------------------------------------------------------------


def test_traces_are_present() -> None:
    names = {p.stem for p in TRACE_FILES}
    for name in names:
        assert (TRACES / f"{name}.cdr.csv").is_file()
    assert {
        "answered", "abandoned", "ringnoanswer", "timeout", "hold", "blind_transfer",
        "attended_transfer", "resync", "concurrent", "preferred_agent", "transfer_to_queue",
        "burst", "pauses", "ringall", "refer_transfer", "linkedid_move", "linkedid_merge",
    } <= names  # fmt: skip


@pytest.mark.parametrize("trace", TRACE_FILES, ids=lambda p: p.stem)
def test_replay_matches_queue_log(trace: Path) -> None:
    calls = {c.linkedid: c for c in replay_file(trace)}
    truth = read_queue_log(trace.with_suffix(".queue_log"))
    assert truth, "the trace has no queued call"
    queued = {c.linkedid for c in calls.values() if c.queue is not None}
    assert queued == set(truth), "calls the tracker queued that queue_log does not know"
    for callid, expected in truth.items():
        assert callid in calls, f"queue_log call {callid} missing from the replay"
        call = calls[callid]
        assert call.queue == expected.queue, callid
        assert call.outcome.value == expected.outcome, callid
        assert same_agent(call.agent, expected.agent), (callid, call.agent, expected.agent)
        assert call.wait_s is not None and expected.wait is not None
        assert abs(call.wait_s - expected.wait) <= 1.0, (callid, call.wait_s, expected.wait)
        if expected.outcome == "answered" and not expected.transferred:
            assert expected.talk is not None and call.talk_s is not None
            assert abs(call.talk_s - expected.talk) <= 1.0, (callid, call.talk_s, expected.talk)
        if expected.outcome != "answered":
            assert call.talk_s is None and call.agent is None


@pytest.mark.parametrize("trace", TRACE_FILES, ids=lambda p: p.stem)
def test_replay_matches_cdr(trace: Path) -> None:
    calls = {c.linkedid: c for c in replay_file(trace)}
    rows = read_cdr(trace.with_suffix(".cdr.csv"))
    inbound = [r for r in rows if r["channel"].startswith("PJSIP/callers-")]
    assert inbound, "the trace has no inbound call"
    for uniqueid in {r["uniqueid"] for r in inbound}:
        own = [r for r in inbound if r["uniqueid"] == uniqueid]
        assert uniqueid in calls, f"CDR call {uniqueid} missing from the replay"
        call = calls[uniqueid]
        assert call.dnis == own[0]["dst"] or own[0]["dcontext"] != "cti-hotline"
        assert call.caller_number == (own[0]["src"] or None)
        # clid is '"name" <number>' (ast_callerid_merge: '"' and '\\' escaped by a
        # backslash, the whole cut to 80 bytes); the name is left out when empty
        clid = own[0]["clid"]
        if call.caller_name:
            quoted = call.caller_name.replace("\\", "\\\\").replace('"', '\\"')
            full = f'"{quoted}" <{own[0]["src"]}>'
            assert clid == full or (full.startswith(clid) and len(clid.encode()) >= 79), (
                clid,
                call.caller_name,
            )
        # the caller channel's last CDR ends when the call does
        end = max(cdr_epoch(r["end"]) for r in own)
        assert abs(call.ended_at - end) <= 1.0
        if call.talk_s is not None and call.outcome.value == "answered":
            answered = [r for r in rows if r["uniqueid"] == uniqueid and r["answer"]]
            assert answered
        if call.queue is None:
            # never queued: only a direct Dial (the preferred agent) can have answered it
            dialled = [r for r in own if r["lastapp"] == "Dial" and r["dstchannel"]]
            if dialled and dialled[0]["billsec"] != "0" and dialled[0]["disposition"] == "ANSWERED":
                assert call.outcome.value == "answered"
                assert call.agent == dialled[0]["dstchannel"].rsplit("-", 1)[0]
            else:
                assert call.outcome.value == "not_queued"


@pytest.mark.parametrize("trace", TRACE_FILES, ids=lambda p: p.stem)
def test_transferred_calls_talk_until_the_caller_hangs_up(trace: Path) -> None:
    calls = {c.linkedid: c for c in replay_file(trace)}
    truth = read_queue_log(trace.with_suffix(".queue_log"))
    rows = read_cdr(trace.with_suffix(".cdr.csv"))
    for callid, expected in truth.items():
        if not expected.transferred:
            continue
        call = calls[callid]
        assert expected.connected_at is not None and call.talk_s is not None
        end = max(cdr_epoch(r["end"]) for r in rows if r["uniqueid"] == callid)
        assert abs(call.talk_s - (end - expected.connected_at)) <= 1.5
        kinds = [e.data.get("kind") for e in call.timeline if e.type.value == "transferred"]
        assert kinds


def _separately() -> dict[str, dict[str, object]]:
    calls: dict[str, dict[str, object]] = {}
    for trace in TRACE_FILES:
        for call in as_json(replay_file(trace)):
            assert call["linkedid"] not in calls, "Linkedids must be unique across traces"
            calls[str(call["linkedid"])] = call
    return calls


def test_all_traces_in_one_stream_give_the_same_calls_as_separately() -> None:
    # One long-running tracker over every recorded run back to back: state left
    # over from one call (or one run) must never change another call's result.
    stream = io.BytesIO(b"".join(p.read_bytes() for p in TRACE_FILES))
    together = as_json(list(replay(stream)))
    assert {str(c["linkedid"]): c for c in together} == _separately()
    assert len(together) == len(_separately())


def test_all_traces_interleaved_give_the_same_calls_as_separately() -> None:
    # Harder: the runs' events interleaved one by one (each keeps its own order
    # and timestamps), as if all those calls had been live at once.
    decoded = []
    for trace in TRACE_FILES:
        decoder = AmiDecoder()
        decoded.append(decoder.feed(trace.read_bytes()))
        decoder.finish()
    tracker = CallTracker()
    together = []
    for i in range(max(len(msgs) for msgs in decoded)):
        for msgs in decoded:
            if i < len(msgs):
                for event in tracker.feed(msgs[i]):
                    if event.type is DomainEventType.ENDED:
                        together.append(event.data["summary"])
    assert {str(c["linkedid"]): c for c in as_json(together)} == _separately()
    assert tracker.active_calls() == []


def test_every_byte_boundary_of_a_small_trace_gives_the_same_calls() -> None:
    smallest = min(TRACE_FILES, key=lambda p: p.stat().st_size)
    assert as_json(replay_file(smallest, chunk_size=1)) == as_json(replay_file(smallest))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_arbitrary_splits_give_the_same_calls(data: st.DataObject) -> None:
    trace = data.draw(st.sampled_from(TRACE_FILES))
    raw = trace.read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=30)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]

    class Pieces(io.RawIOBase):
        def __init__(self) -> None:
            self.left = list(pieces)

        def read(self, size: int = -1) -> bytes:
            while self.left:
                piece = self.left.pop(0)
                if piece:
                    return piece
            return b""

    got = list(replay(Pieces(), chunk_size=1 << 30))  # type: ignore[arg-type]
    assert as_json(got) == as_json(replay_file(trace))


def test_chinese_names_survive_replay() -> None:
    names = {c.caller_name for p in TRACE_FILES for c in replay_file(p)}
    assert "张伟" in names


def test_truncated_trace_prints_calls_before_and_names_the_offset(tmp_path: Path) -> None:
    trace = max(TRACE_FILES, key=lambda p: len(replay_file(p)))
    raw = trace.read_bytes()
    full = as_json(replay_file(trace))
    cut = len(raw) - 5
    damaged = tmp_path / "cut.ami"
    damaged.write_bytes(raw[:cut])
    with damaged.open("rb") as fh, pytest.raises(AmiTruncatedError) as info:
        got = []
        for call in replay(fh):
            got.append(call)
    assert as_json(got) == full[: len(got)]
    assert info.value.offset == raw.rindex(b"\r\n\r\n", 0, cut) + 4
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(damaged, out, err, as_json=True) == 2
    assert str(info.value.offset) in err.getvalue()
    assert err.getvalue().count("\n") == 1
    assert [json.loads(line) for line in out.getvalue().splitlines()] == full[: len(got)]


def test_damaged_trace_stops_at_the_damage(tmp_path: Path) -> None:
    trace = max(TRACE_FILES, key=lambda p: len(replay_file(p)))
    raw = trace.read_bytes()
    full = as_json(replay_file(trace))
    middle = raw.index(b"\r\n\r\n", len(raw) // 2) + 4
    garbage = b"\x00\xff\xfe random garbage without a colon\r\n"
    damaged = tmp_path / "damaged.ami"
    damaged.write_bytes(raw[:middle] + garbage + raw[middle:])
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(damaged, out, err, as_json=True) == 2
    assert f"offset {middle}" in err.getvalue()
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert printed == full[: len(printed)]
    with damaged.open("rb") as fh, pytest.raises(AmiDecodeError):
        list(replay(fh))


def test_run_replay_prints_one_json_object_per_call() -> None:
    trace = TRACES / "answered.ami"
    out, err = io.StringIO(), io.StringIO()
    assert run_replay(trace, out, err, as_json=True) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines and err.getvalue() == ""
    assert set(lines[0]) == {
        "linkedid", "caller_number", "caller_name", "dnis", "queue", "outcome", "agent",
        "wait_s", "talk_s", "hangup_cause", "recordings", "order_id", "direction",
        "callback_agent", "customer_dial",
    }  # fmt: skip
    assert "张伟" in out.getvalue()  # ensure_ascii=False


# -- recordings ---------------------------------------------------------------------------


def announced_recordings(trace: Path) -> dict[str, list[str]]:
    """Per Linkedid, the files the trace's ``VarSet MIXMONITOR_FILENAME`` events name
    for a channel that then reports ``MixMonitorStart``, in stream order, each once."""
    decoder = AmiDecoder()
    msgs = decoder.feed(trace.read_bytes())
    decoder.finish()
    named: dict[str, tuple[str, str]] = {}  # Uniqueid -> (Linkedid, file)
    files: dict[str, list[str]] = {}
    for msg in msgs:
        if msg.get("Event") == "VarSet" and msg.get("Variable") == "MIXMONITOR_FILENAME":
            named[msg["Uniqueid"]] = (msg["Linkedid"], msg["Value"])
        elif msg.get("Event") == "MixMonitorStart" and msg.get("Uniqueid") in named:
            linkedid, file = named[msg["Uniqueid"]]
            if file not in files.setdefault(linkedid, []):
                files[linkedid].append(file)
    return files


@pytest.mark.parametrize("trace", TRACE_FILES, ids=lambda p: p.stem)
def test_every_call_carries_the_files_mixmonitor_recorded(trace: Path) -> None:
    calls = {c.linkedid: c for c in replay_file(trace)}
    announced = announced_recordings(trace)
    assert announced, "the trace records no call"
    assert {k: list(c.recordings) for k, c in calls.items() if c.recordings} == announced


@pytest.mark.parametrize("trace", TRACE_FILES, ids=lambda p: p.stem)
def test_recordings_follow_the_dialplans_naming(trace: Path) -> None:
    """cti-hotline runs ``MixMonitor(${CTI_RECORDING_DIR}/${STRFTIME(${EPOCH},,%Y%m%d)}/
    ${UNIQUEID}.wav,b)`` once per caller: every inbound call of the CDR has a file named
    after its uniqueid in the folder of its start day (both in Asterisk's local time)."""
    calls = {c.linkedid: c for c in replay_file(trace)}
    inbound = [
        r
        for r in read_cdr(trace.with_suffix(".cdr.csv"))
        if r["channel"].startswith("PJSIP/callers-")
    ]
    for uniqueid in {r["uniqueid"] for r in inbound}:
        day = min(r["start"] for r in inbound if r["uniqueid"] == uniqueid)[:10].replace("-", "")
        (file,) = calls[uniqueid].recordings
        assert Path(file).name == f"{uniqueid}.wav"
        assert Path(file).parent.name == day


def test_the_recording_of_the_answered_call() -> None:
    (call,) = replay_file(TRACES / "answered.ami")
    # as in answered.ami: "Variable: MIXMONITOR_FILENAME" / "Value: ..."
    assert call.recordings == ("/var/spool/asterisk/monitor/cti/20261123/1795430853.8.wav",)
    assert call.to_json_dict()["recordings"] == list(call.recordings)


def test_a_caller_recorded_again_on_the_same_file_has_it_once() -> None:
    """transfer_to_queue.ami: the agent sends the caller back to the hotline, whose
    dialplan starts MixMonitor again on the same ``${UNIQUEID}.wav``."""
    (call,) = replay_file(TRACES / "transfer_to_queue.ami")
    starts = [e for e in call.timeline if e.type is DomainEventType.RECORDING_STARTED]
    assert len(starts) == 2
    assert call.recordings == ("/var/spool/asterisk/monitor/cti/20261123/1795432523.85.wav",)


# -- hang-up causes and rings nobody answered ---------------------------------------------


@pytest.mark.parametrize("trace", CDR_TRACES, ids=lambda p: p.stem)
def test_hangup_cause_and_outcome_agree_with_the_cdr(trace: Path) -> None:
    """What Asterisk's CDR says about how each call ended, against our summary.

    Asterisk's default CSV CDR has no hang-up cause column, and the userfield
    here is our dialplan's ``queue=|prio=|agi=`` note. ``disposition`` is derived
    from a cause only for a row whose caller was never answered and that dialled
    nobody (cdr.c ``cdr_object_set_disposition``): cti-hotline answers every
    caller first, so in these runs the dispositions come from the Dial/Queue
    legs instead (``ANSWERED`` when party B answered, ``NO ANSWER`` for a ring
    that timed out or was cancelled) and, on rows without a party B, from the
    caller's own answer (``ANSWERED``). What the CDR does pin down, per inbound
    call (rows of the caller's Uniqueid = our Linkedid):

    * outcome: ``answered`` exactly when some row has a party B (``dstchannel``)
      with disposition ``ANSWERED``;
    * hang-up cause (``hangup_cause``, the caller channel's ``Hangup`` Cause),
      from the row that ended last:

      - ``lastapp`` ``Hangup``: the dialplan hung up; ``Hangup(N)`` sets cause
        N and a bare ``Hangup()`` on a caller without a cause sets 16
        (``pbx_builtin_hangup``);
      - a party B that answered (``ANSWERED`` with a ``dstchannel``): the
        caller talked until one side hung up, a normal clearing: 16;
      - ``lastapp`` ``Queue`` with nobody answered: the caller hung up while
        waiting or while an agent rang. Asterisk 22 then leaves the caller's
        cause unset (0): app_queue notices the hang-up request and leaves
        without reading the channel driver's cause (every such call in these
        traces). The outcome is ``abandoned``.

    Any other shape fails, asking for this test to be extended rather than
    letting a new trace pass unchecked.
    """
    calls = {c.linkedid: c for c in replay_file(trace)}
    rows = read_cdr(trace.with_suffix(".cdr.csv"))
    callers = {r["uniqueid"] for r in rows if r["channel"].startswith("PJSIP/callers-")}
    assert callers, "the trace has no inbound call"
    for uniqueid in sorted(callers):
        call = calls[uniqueid]
        own = [r for r in rows if r["uniqueid"] == uniqueid]
        connected = [r for r in own if r["dstchannel"] and r["disposition"] == "ANSWERED"]
        assert (call.outcome.value == "answered") == bool(connected), (uniqueid, call.outcome)
        final = final_cdr_row(own)
        seen = (uniqueid, call.hangup_cause, final["lastapp"], final["disposition"])
        assert call.hangup_cause == expected_cause(own), seen
        if final["lastapp"] == "Queue" and not connected:
            assert call.outcome.value == "abandoned", seen


def rings_missed(call: CallSummary, *, direct: bool) -> list[dict[str, Any]]:
    """Data of the call's ``agent_ring_no_answer`` events, queue rings or direct Dials."""
    return [
        e.data
        for e in call.timeline
        if e.type is DomainEventType.AGENT_RING_NO_ANSWER and bool(e.data.get("direct")) is direct
    ]


@pytest.mark.parametrize("trace", QUEUE_LOG_TRACES, ids=lambda p: p.stem)
def test_ring_no_answer_matches_queue_log(trace: Path) -> None:
    """Per call, the members a queue rang until their ring timed out, in order, with
    the ring time: queue_log's ``RINGNOANSWER`` rows (``agent`` = member name,
    data = ms). app_queue writes the row and raises ``AgentRingNoAnswer`` in the
    same place (``rna()``); rings cancelled because the caller left or another
    member answered are ``RINGCANCELED`` in queue_log and are not counted."""
    calls = {c.linkedid: c for c in replay_file(trace)}
    truth = read_queue_log(trace.with_suffix(".queue_log"))
    assert truth, "the trace has no queued call"
    tracked = {
        linkedid: [
            (r["member_name"], round(r["ring_s"] * 1000)) for r in rings_missed(call, direct=False)
        ]
        for linkedid, call in calls.items()
    }
    expected = {callid: list(t.ring_no_answer) for callid, t in truth.items()}
    assert {k: v for k, v in tracked.items() if v} == {k: v for k, v in expected.items() if v}


# cdr.c dial_status_to_disposition(): a DialEnd status as the CDR shows it.
_DIAL_DISPOSITION = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
}


@pytest.mark.parametrize("trace", CDR_TRACES, ids=lambda p: p.stem)
def test_direct_ring_no_answer_matches_the_cdr(trace: Path) -> None:
    """The preferred agent rung by ``Dial()`` before the queue is not in queue_log;
    its unanswered ring is the caller's ``Dial`` CDR row to that phone, started
    before the caller's first ``Queue`` row, with a disposition other than
    ``ANSWERED`` (a status outside the table shows as ``FAILED``)."""
    calls = {c.linkedid: c for c in replay_file(trace)}
    rows = read_cdr(trace.with_suffix(".cdr.csv"))
    for uniqueid in {r["uniqueid"] for r in rows if r["channel"].startswith("PJSIP/callers-")}:
        own = [r for r in rows if r["uniqueid"] == uniqueid]
        # CDR times are whole seconds: a Dial failing at once may start with the queue
        first_queue = min((r["start"] for r in own if r["lastapp"] == "Queue"), default=None)
        missed = [
            r
            for r in sorted(own, key=lambda r: r["start"])
            if r["lastapp"] == "Dial"
            and r["dstchannel"]
            and (first_queue is None or r["start"] <= first_queue)
            and r["disposition"] != "ANSWERED"
        ]
        tracked = rings_missed(calls[uniqueid], direct=True)
        assert [
            (r["interface"], _DIAL_DISPOSITION.get(r["dial_status"], "FAILED")) for r in tracked
        ] == [(r["dstchannel"].rsplit("-", 1)[0], r["disposition"]) for r in missed]
        for ring, row in zip(tracked, missed, strict=True):
            assert abs(ring["ring_s"] - int(row["duration"])) <= 1.0


def test_the_audit_covers_what_it_should() -> None:
    """The comparisons above run on traces where there is something to compare."""
    names = {p.stem for p in QUEUE_LOG_TRACES}
    assert {"abandoned", "ringnoanswer", "timeout", "preferred_agent", "agent_states"} <= names
    rna = sum(
        len(t.ring_no_answer)
        for p in QUEUE_LOG_TRACES
        for t in read_queue_log(p.with_suffix(".queue_log")).values()
    )
    assert rna >= 4
    assert any(rings_missed(c, direct=True) for p in CDR_TRACES for c in replay_file(p))
