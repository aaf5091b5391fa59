"""Live queue figures from recorded Asterisk traffic, checked against queue_log of the same run.

Both trackers are fed a trace event by event; the figures of :func:`cti.queues.live.queue_now`
(what ``GET /api/v1/queues`` and the wallboard show) are compared with what Asterisk's
own queue_log says: who entered the queue, when, and how long each caller waited.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.agents.state import AgentState, AgentStateTracker
from cti.ami.codec import AmiDecoder, AmiMessage
from cti.clock import FixedClock
from cti.queues.live import QueueNow, queue_now
from cti.queues.series import WaitingSeries
from cti.tracking.tracker import CallTracker
from cti.tracking.values import timestamp
from tests.groundtruth import read_queue_log

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
QUEUED_TRACES = sorted(
    p.with_suffix(".ami").name
    for p in TRACES.glob("*.queue_log")
    if p.with_suffix(".ami").exists()
    and "ENTERQUEUE" in p.read_text(encoding="utf-8")
    and not p.with_suffix(".snapshot.ami").exists()  # these start mid-call (resync)
)


def messages(name: str) -> list[AmiMessage]:
    decoder = AmiDecoder()
    out = list(decoder.feed((TRACES / name).read_bytes()))
    decoder.finish()
    return out


class Replay:
    """Both trackers as the pipeline feeds them, with Asterisk's clock pinned to the trace."""

    def __init__(self) -> None:
        self.calls = CallTracker()
        # A clock that does not move: "Asterisk now" is the newest Timestamp fed.
        self.agents = AgentStateTracker(clock=FixedClock(0.0))
        self.homes: dict[str, frozenset[str]] = {}

    def feed(self, msg: AmiMessage) -> None:
        self.calls.feed(msg)
        self.agents.feed(msg)

    def now(self, queue: str = "hotline") -> QueueNow:
        at = self.agents.asterisk_now()
        statuses = self.agents.statuses(at)
        for s in statuses:
            self.homes[s.interface] = self.homes.get(s.interface, frozenset()) | {
                m.queue for m in s.queues
            }
        return queue_now(queue, self.calls.waiting_callers(), statuses, self.homes, at)


@pytest.mark.parametrize("trace", QUEUED_TRACES)
def test_waiting_callers_and_their_waits_agree_with_queue_log(trace: str) -> None:
    truth = read_queue_log((TRACES / trace).with_suffix(".queue_log"))
    entered = {c: t for c, t in truth.items() if t.entered_at is not None}
    replay = Replay()
    joined: dict[str, float] = {}
    waited: dict[str, float] = {}
    waiting_before: dict[str, float] = {}
    for msg in messages(trace):
        replay.feed(msg)
        ts = timestamp(msg.get("Timestamp"))
        now = {w.linkedid: w for w in replay.calls.waiting_callers()}
        for linkedid, joined_at in waiting_before.items():
            if linkedid not in now and ts is not None:
                waited[linkedid] = ts - joined_at  # left the queue with this event
        for w in now.values():
            joined.setdefault(w.linkedid, w.joined_at)
            assert w.queue == truth[w.linkedid].queue
        waiting_before = {w.linkedid: w.joined_at for w in now.values()}
        figures = {q: replay.now(q) for q in {w.queue for w in now.values()}}
        for queue, fig in figures.items():
            here = [w for w in now.values() if w.queue == queue]
            assert fig.waiting == len(here)
            assert fig.oldest_joined_at == min(w.joined_at for w in here)
    # Everyone queue_log saw enter the queue was shown waiting, and no one else.
    assert sorted(joined) == sorted(entered)
    assert replay.calls.waiting_callers() == []
    for callid, t in entered.items():
        assert t.entered_at is not None
        # queue_log writes whole seconds (truncated), a moment before AMI stamps its event.
        assert t.entered_at <= joined[callid] < t.entered_at + 1.5, callid
        if t.wait is not None and callid in waited:
            assert abs(waited[callid] - t.wait) < 1.0, (callid, waited[callid], t.wait)


def test_agents_in_the_queue_follow_queue_log_member_events() -> None:
    """agent_states: 1001 logs in, pauses for lunch then training, unpauses, takes two
    calls (5 s wrap-up), logs out. After each queue_log row's second, the board agrees."""
    rows = [
        line.split("|")
        for line in (TRACES / "agent_states.queue_log").read_text(encoding="utf-8").splitlines()
        if line
    ]
    msgs = messages("agent_states.ami")
    replay = Replay()
    i = 0
    checked = 0
    for row in rows:
        second, callid, queue, _agent, event = int(row[0]), row[1], row[2], row[3], row[4]
        if queue != "hotline":
            continue
        while i < len(msgs) and (timestamp(msgs[i].get("Timestamp")) or 0) < second + 1:
            replay.feed(msgs[i])
            i += 1
        fig = replay.now()
        agent = next((a for a in fig.members if a.extension == "1001"), None)
        waiting = {w.linkedid for w in replay.calls.waiting_callers()}
        if event == "ADDMEMBER" or event == "UNPAUSE":
            assert agent is not None and agent.state is AgentState.AVAILABLE
            assert fig.agents.available == 1 and fig.agents.paused == 0
        elif event == "PAUSE":
            assert agent is not None and agent.state is AgentState.PAUSED
            assert agent.paused_reason == row[5]
            assert fig.agents.paused_by_reason == ((row[5], 1),)
        elif event == "ENTERQUEUE":
            assert callid in waiting and fig.waiting >= 1
        elif event == "CONNECT":
            assert callid not in waiting
            assert agent is not None and agent.state is AgentState.ON_CALL
            assert fig.agents.on_call == 1
        elif event == "COMPLETECALLER":
            assert agent is not None and agent.state is AgentState.WRAP_UP
            assert fig.agents.wrap_up == 1
        elif event == "REMOVEMEMBER":
            # Gone from the queue, still shown as one of its agents, logged out.
            assert agent is not None and agent.state is AgentState.LOGGED_OUT
            assert fig.agents.logged_out == 1 and fig.agents.available == 0
        else:
            continue
        checked += 1
    assert checked >= 10


def test_a_paused_member_shows_its_queue_pause_and_reason() -> None:
    """Recorded pauses.ami, after every event: a member paused in a queue is paused there
    with that membership's reason, unless its phone rings or talks."""
    replay = Replay()
    for msg in messages("pauses.ami"):
        replay.feed(msg)
        for status in replay.agents.statuses(replay.agents.asterisk_now()):
            for m in status.queues:
                members = replay.now(m.queue).members
                here = next(a for a in members if a.interface == status.interface)
                if status.state in (AgentState.ON_CALL, AgentState.RINGING):
                    assert here.state is status.state
                elif m.paused:
                    assert here.state is AgentState.PAUSED
                    assert here.paused_reason == m.paused_reason
                else:
                    assert here.state is not AgentState.PAUSED
    assert replay.agents.statuses()  # the trace has agents


def test_waiting_series_keeps_one_point_a_minute_of_the_business_day() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    series = WaitingSeries(tz)
    # 23:59:10 and 23:59:50 Beijing time: one minute, the later value kept.
    assert series.record(datetime(2026, 12, 6, 15, 59, 10, tzinfo=UTC), {"hotline": 3})
    assert not series.record(datetime(2026, 12, 6, 15, 59, 50, tzinfo=UTC), {"hotline": 2})
    points = series.points("hotline")
    assert [(p.at.isoformat(), p.waiting) for p in points] == [("2026-12-06T23:59:00+08:00", 2)]
    # Midnight in Beijing (16:00 UTC): a new business day, yesterday's points are dropped.
    assert series.record(datetime(2026, 12, 6, 16, 0, 5, tzinfo=UTC), {"hotline": 1})
    assert [(p.at.isoformat(), p.waiting) for p in series.points("hotline")] == [
        ("2026-12-07T00:00:00+08:00", 1)
    ]
    assert series.points("other") == []
