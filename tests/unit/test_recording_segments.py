"""A call's recordings as segments: the recorded agent, the start, the muted spans."""

from __future__ import annotations

from cti.recordings.segments import TimelineEvent, recorded_files, segments, uniqueid_of_file

T0 = 1_795_432_000.0
ROOT = "/var/spool/asterisk/monitor/cti/20261123"
FIRST = f"{ROOT}/1795432000.1-1795432005.3.wav"
SECOND = f"{ROOT}/1795432000.1-1795432060.7.wav"


def started(at: float, channel: str, uniqueid: str, file: str) -> TimelineEvent:
    data = {"channel": channel, "uniqueid": uniqueid, "file": file}
    return TimelineEvent("recording_started", at, data)


def paused(at: float, channel: str) -> TimelineEvent:
    return TimelineEvent("recording_paused", at, {"channel": channel, "uniqueid": "x"})


def resumed(at: float, channel: str) -> TimelineEvent:
    return TimelineEvent("recording_resumed", at, {"channel": channel, "uniqueid": "x"})


AGENT1 = "PJSIP/1001-00000003"
AGENT2 = "PJSIP/1002-00000007"
TIMELINE = [
    started(T0 + 5, AGENT1, "1795432005.3", FIRST),
    paused(T0 + 20, AGENT1),
    resumed(T0 + 32.5, AGENT1),
    started(T0 + 60, AGENT2, "1795432060.7", SECOND),
    paused(T0 + 70, AGENT2),  # never resumed: muted until the call ends
    started(T0 + 80, AGENT2, "1795432060.7", SECOND),  # started again on the same file
]


def test_a_transferred_call_has_one_segment_per_agent_in_order() -> None:
    first, second = segments(
        recorded_files(TIMELINE), TIMELINE, call_started=T0, call_ended=T0 + 100
    )
    assert (first.segment, first.file, first.agent, first.started_at) == (1, FIRST, "1001", T0 + 5)
    assert (second.segment, second.agent, second.uniqueid) == (2, "1002", "1795432060.7")
    assert second.started_at == T0 + 60  # the first start on that file


def test_paused_spans_are_offsets_into_their_own_segment() -> None:
    first, second = segments([FIRST, SECOND], TIMELINE, call_started=T0, call_ended=T0 + 100)
    assert first.paused_spans == [{"start_s": 15.0, "end_s": 27.5}]
    # The other agent's pause is not on the first segment; an open pause ends with the call.
    assert second.paused_spans == [{"start_s": 10.0, "end_s": 40.0}]


def test_a_channel_that_is_no_agent_has_no_agent() -> None:
    timeline = [started(T0, "PJSIP/trunk-0000000a", "1795432000.1", FIRST)]
    [seg] = segments([FIRST], timeline, call_started=T0, call_ended=T0 + 10)
    assert seg.agent is None and seg.channel == "PJSIP/trunk-0000000a"


def test_a_file_without_its_start_event_takes_the_uniqueid_from_its_name() -> None:
    [seg] = segments([SECOND], [], call_started=T0, call_ended=T0 + 10)
    assert (seg.uniqueid, seg.started_at, seg.channel, seg.agent) == (
        "1795432060.7",
        T0,
        None,
        None,
    )
    assert uniqueid_of_file(f"{ROOT}/1795432000.1-1795432060.7.opus") == "1795432060.7"
