"""The pure queue-figure definitions, on recorded calls (traces) and their queue_log."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.calls.facts import stats_facts
from cti.stats.definitions import (
    CallRow,
    Interval,
    Rules,
    StateRow,
    Sums,
    agent_time,
    bucket_key,
    bucket_start,
    buckets,
    call_row,
    figures,
    offset_segments,
    period_figures,
    sums_of,
)
from cti.tracking.events import CallSummary
from cti.tracking.replay import replay
from tests.statstruth import queue_figures

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
QUEUE_TRACES = sorted(p for p in TRACES.glob("*.ami") if p.with_suffix(".queue_log").is_file())
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def row_of(summary: CallSummary, wrapup_s: float = 0.0) -> tuple[str | None, CallRow]:
    return call_row(summary, wrapup_s)


def total(rows: list[CallRow], rules: Rules = Rules()) -> Sums:
    out = Sums()
    for part in sums_of(rows, Interval.DAY, SHANGHAI, rules).values():
        out.add(part)
    return out


@pytest.mark.parametrize("trace", QUEUE_TRACES, ids=lambda p: p.stem)
def test_counts_of_every_trace_equal_its_queue_log(trace: Path) -> None:
    with trace.open("rb") as fh:
        rows = [row_of(s) for s in replay(fh)]
    for queue, want in queue_figures(trace).items():
        got = figures(total([r for q, r in rows if q == queue]))
        assert (got.offered, got.answered, got.abandoned, got.timeouts, got.transfers) == (
            want.offered,
            want.answered,
            want.abandoned,
            want.timeouts,
            want.transfers,
        )
        assert got.short_abandons == want.short_abandons


def test_the_preferred_agents_call_is_offered_and_answered_for_the_hotline() -> None:
    # preferred_agent: .51 is answered by the preferred agent (Dial, no ENTERQUEUE); .53's
    # preferred agent does not answer, the call joins the queue at 1795431480 (queue_log).
    with (TRACES / "preferred_agent.ami").open("rb") as fh:
        calls = {s.linkedid: s for s in replay(fh)}
    direct = stats_facts(calls["1795431469.51"])
    assert calls["1795431469.51"].queue is None  # the tracker: no queue ever joined
    assert direct.queue == "hotline" and direct.offered_at is not None
    assert direct.answered_at is not None and not direct.answered_in_queue
    queued = stats_facts(calls["1795431470.53"])
    assert queued.offered_at == pytest.approx(1795431480, abs=1)
    assert queued.answered_in_queue


def test_outbound_and_internal_calls_are_not_queue_traffic() -> None:
    for name in ("clicktocall.ami", "linkedid_move.ami"):
        with (TRACES / name).open("rb") as fh:
            for s in replay(fh):
                if s.direction == "outbound" or s.routed_queue is None:
                    facts = stats_facts(s)
                    assert facts.offered_at is None and facts.queue is None, s.linkedid


def test_the_figures_from_the_burst_trace() -> None:
    # burst: 14 callers; queue_log: 6 CONNECT, 7 ABANDON, 1 EXITWITHTIMEOUT.
    with (TRACES / "burst.ami").open("rb") as fh:
        rows = [r for _, r in (row_of(s, wrapup_s=3.0) for s in replay(fh))]
    got = figures(total(rows))
    assert (got.offered, got.answered, got.abandoned, got.timeouts) == (14, 6, 7, 1)
    assert got.answer_rate == round(6 / 14, 4)
    # CONNECT holdtimes 2, 2, 6, 14, 22, 22: four within 20 s.
    assert got.service_level_of_answered == round(4 / 6, 4)
    assert got.service_level_of_offered == round(4 / 14, 4)  # no abandon within 5 s
    assert got.asa_s == pytest.approx((2 + 2 + 6 + 14 + 22 + 22) / 6, abs=0.1)
    # Talk 10, 18, 6, 8, 60, 60 (COMPLETE*), plus 3 s wrap-up each.
    assert got.aht_s == pytest.approx((10 + 18 + 6 + 8 + 60 + 60) / 6 + 3, abs=0.5)
    assert got.longest_wait_s == pytest.approx(25, abs=0.5)  # the timeout's
    # A longer short-abandon threshold takes the 5 s and 6 s abandons out of "offered".
    wider = figures(total(rows, Rules(short_abandon_s=6.5)))
    assert wider.short_abandons == 2
    assert wider.service_level_of_offered == round(4 / 12, 4)
    assert wider.service_level_of_answered == got.service_level_of_answered


def test_period_figures_count_only_the_calls_offered_in_the_period() -> None:
    with (TRACES / "concurrent.ami").open("rb") as fh:
        rows = [r for _, r in (row_of(s) for s in replay(fh))]
    offered = sorted(r.offered_at for r in rows if r.offered_at is not None)
    whole = period_figures(rows, offered[0], offered[-1] + timedelta(seconds=1), Rules())
    assert whole == figures(total(rows))
    later = period_figures(rows, offered[1], offered[-1] + timedelta(seconds=1), Rules())
    assert later.offered == whole.offered - 1


def test_no_calls_give_no_ratios() -> None:
    empty = figures(Sums())
    assert empty.offered == 0
    assert empty.answer_rate is None and empty.asa_s is None and empty.aht_s is None
    assert empty.service_level_of_offered is None and empty.longest_wait_s is None
    assert empty.csat is None


def test_buckets_follow_the_business_time_zones_wall_clock() -> None:
    # 2026-11-23 23:59:59 in Shanghai is 15:59:59 UTC; one second later is the next day.
    late = datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)
    day = bucket_key(late, Interval.DAY, SHANGHAI)
    assert bucket_key(late + timedelta(seconds=1), Interval.DAY, SHANGHAI) == day + 1
    assert bucket_start(day, Interval.DAY, SHANGHAI) == datetime(2026, 11, 22, 16, tzinfo=UTC)
    hour = bucket_key(late, Interval.HOUR, SHANGHAI)
    assert bucket_start(hour, Interval.HOUR, SHANGHAI) == datetime(2026, 11, 23, 15, tzinfo=UTC)
    quarter = bucket_key(late, Interval.MIN15, SHANGHAI)
    assert bucket_start(quarter, Interval.MIN15, SHANGHAI) == datetime(
        2026, 11, 23, 15, 45, tzinfo=UTC
    )
    start = datetime(2026, 11, 23, tzinfo=SHANGHAI)
    assert len(buckets(start, start + timedelta(days=1), Interval.MIN15, SHANGHAI)) == 96
    assert offset_segments(start, start + timedelta(days=30), SHANGHAI) == [
        (start, start + timedelta(days=30), 8 * 3600)
    ]


def test_a_daylight_saving_day_is_one_bucket_of_23_hours() -> None:
    # Berlin moves from +01:00 to +02:00 at 2026-03-29 01:00 UTC.
    start = datetime(2026, 3, 28, tzinfo=BERLIN)
    end = datetime(2026, 3, 31, tzinfo=BERLIN)
    segments = offset_segments(start, end, BERLIN)
    assert [(s[1], s[2]) for s in segments] == [
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 3600),
        (end, 7200),
    ]
    keys = buckets(start, end, Interval.DAY, BERLIN)
    assert len(keys) == 3
    spans = [
        bucket_start(k + 1, Interval.DAY, BERLIN) - bucket_start(k, Interval.DAY, BERLIN)
        for k in keys
    ]
    assert spans == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]
    # Both sides of the change fall in the same local day.
    before = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert bucket_key(before, Interval.DAY, BERLIN) == bucket_key(after, Interval.DAY, BERLIN)


def test_agent_time_clips_states_to_the_period_and_splits_pauses_by_reason() -> None:
    t0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    def s(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    rows = [
        StateRow("PJSIP/1001", "available", s(-30)),  # the state the period opens in
        StateRow("PJSIP/1001", "on_call", s(10)),
        StateRow("PJSIP/1001", "wrap_up", s(20)),
        StateRow("PJSIP/1001", "paused", s(25), "lunch"),
        StateRow("PJSIP/1001", "paused", s(55), "training"),
        StateRow("PJSIP/1001", "logged_out", s(70)),
    ]
    got = agent_time(rows, s(0), s(80))
    assert got.logged_in_s == 70 * 60
    assert got.pause_by_reason == {"lunch": 30 * 60, "training": 15 * 60}
    assert got.paused_s == 45 * 60
    assert (got.on_call_s, got.wrap_up_s, got.available_s) == (600, 300, 600)
    assert got.occupancy == pytest.approx(900 / (70 * 60 - 45 * 60))
    # Still paused at the end: the open state counts up to the end only.
    assert agent_time(rows[:5], s(0), s(60)).pause_by_reason == {
        "lunch": 30 * 60,
        "training": 5 * 60,
    }
    assert agent_time([], s(0), s(60)).occupancy is None


def test_a_caller_counts_as_a_voicemail_only_when_the_voicemail_app_ran() -> None:
    # timeout: the queue lets the caller go and the overflow runs AGI(.../voicemail); in
    # that recording no AGI app was listening (AGISTATUS FAILURE, for the hotline's AGI
    # and then the voicemail's): no voicemail.
    recorded = (TRACES / "timeout.ami").read_bytes()
    failure = b"Variable: AGISTATUS\r\nValue: FAILURE"
    assert recorded.count(failure) == 2
    (failed,) = list(replay(io.BytesIO(recorded)))
    assert not failed.voicemail
    # The same call with the voicemail app answering (its AGISTATUS when it returns).
    head, _, tail = recorded.rpartition(failure)
    served = head + b"Variable: AGISTATUS\r\nValue: SUCCESS" + tail
    (call,) = list(replay(io.BytesIO(served)))
    assert call.voicemail
    queue, row = row_of(call)
    got = figures(total([row]))
    assert (queue, got.offered, got.timeouts, got.voicemails) == ("hotline", 1, 1, 1)
