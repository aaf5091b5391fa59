"""Screen-pop hub fed with recorded Asterisk 22 traffic (tests/fixtures/traces)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cti.ami.codec import AmiDecoder
from cti.screenpop.hub import ScreenPopHub, Subscriber
from cti.tracking.events import DomainEventType
from cti.tracking.tracker import CallTracker
from cti.tracking.values import extension_of

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"


def messages(name: str) -> list[Mapping[str, str]]:
    decoder = AmiDecoder()
    out = list(decoder.feed((TRACES / name).read_bytes()))
    decoder.finish()
    return out


class FakeLookup:
    """Stands in for the database: answers with the number it was asked about."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.asked: list[str | None] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self, caller_number: str | None) -> dict[str, Any]:
        self.asked.append(caller_number)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("database down")
        return {"customer": {"name": f"customer of {caller_number}", "tier": "vip"}}


def feed(hub: ScreenPopHub, name: str, tracker: CallTracker | None = None) -> None:
    tracker = tracker or CallTracker()
    for msg in messages(name):
        for event in tracker.feed(msg):
            hub.on_event(event)


def drained(sub: Subscriber) -> list[dict[str, Any]]:
    frames = []
    while not sub.queue.empty():
        text = sub.queue.get_nowait()
        assert text is not None
        frames.append(json.loads(text))
    return frames


def test_extension_of_interface_or_member_name() -> None:
    assert extension_of("PJSIP/1001") == "1001"
    assert extension_of("Local/1002@agents", None) == "1002"
    assert extension_of(None, "1003") == "1003"
    assert extension_of("PJSIP/trunk-a", "Li Wei") is None


async def test_answered_call_pops_before_answer_then_answered_and_ended() -> None:
    hub = ScreenPopHub(FakeLookup())
    sub, backlog, gap = hub.subscribe("1001")
    assert backlog == [] and gap is False
    feed(hub, "answered.ami")
    await hub.drain()
    frames = drained(sub)
    assert [f["type"] for f in frames] == ["ringing", "answered", "ended"]
    ringing = frames[0]
    assert ringing["call_id"] == "1795430853.8"
    assert ringing["caller"] == {"number": "13800138000", "name": "张伟"}
    assert ringing["customer"]["name"] == "customer of 13800138000"
    assert ringing["queue"] == "hotline"
    assert frames[2]["outcome"] == "answered" and frames[2]["talk_s"] > 0
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == 3


async def test_agents_only_get_their_own_calls() -> None:
    hub = ScreenPopHub(FakeLookup())
    subs = {ext: hub.subscribe(ext)[0] for ext in ("1001", "1002", "1003")}
    feed(hub, "concurrent.ami")
    await hub.drain()
    rung = {
        ext: [f["call_id"] for f in drained(s) if f["type"] == "ringing"] for ext, s in subs.items()
    }
    assert rung == {
        "1001": ["1795431134.18", "1795431135.25"],
        "1002": ["1795431135.20", "1795431136.26"],
        "1003": ["1795431135.22"],
    }


async def test_ring_no_answer_ends_the_pop_at_that_agent_only() -> None:
    hub = ScreenPopHub(FakeLookup())
    first, second = hub.subscribe("1001")[0], hub.subscribe("1002")[0]
    feed(hub, "ringnoanswer.ami")
    await hub.drain()
    a = drained(first)
    b = drained(second)
    assert [(f["type"], f.get("reason")) for f in a] == [
        ("ringing", None),
        ("ended", "not_answered"),
    ]
    assert [f["type"] for f in b] == ["ringing", "answered", "ended"]
    assert b[0]["caller"]["number"] == "010-12345678"


class GatedLookup(FakeLookup):
    """A database that answers only once the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def __call__(self, caller_number: str | None) -> dict[str, Any]:
        self.asked.append(caller_number)
        await self.gate.wait()
        return {"customer": {"name": f"customer of {caller_number}", "tier": "vip"}}


async def test_slow_lookup_keeps_order_and_never_blocks_the_ami_path() -> None:
    lookup = GatedLookup()
    hub = ScreenPopHub(lookup)
    sub = hub.subscribe("1001")[0]
    # The whole call goes through the synchronous AMI path while the database
    # has not answered: on_event only files work, it never waits for the lookup.
    feed(hub, "answered.ami")
    for _ in range(5):
        await asyncio.sleep(0)  # the agent's task and the prefetch get to run
    assert lookup.asked == ["13800138000"]  # the lookup is under way...
    assert not lookup.gate.is_set()
    assert sub.queue.empty()  # ...and answered/ended wait behind the ringing pop
    lookup.gate.set()
    await hub.drain()
    frames = drained(sub)
    assert [f["type"] for f in frames] == ["ringing", "answered", "ended"]
    assert frames[0]["customer"]["name"] == "customer of 13800138000"


async def test_failed_lookup_still_pops_the_caller() -> None:
    hub = ScreenPopHub(FakeLookup(fail=True))
    sub = hub.subscribe("1001")[0]
    feed(hub, "answered.ami")
    await hub.drain()
    ringing = drained(sub)[0]
    assert ringing["caller"]["name"] == "张伟"
    assert ringing["customer"] is None and ringing["lookup_error"] == "ConnectionError"


async def test_two_tabs_both_get_frames_and_resume_gets_what_was_missed() -> None:
    hub = ScreenPopHub(FakeLookup())
    tab1, tab2 = hub.subscribe("1001")[0], hub.subscribe("1001")[0]
    tracker = CallTracker()
    feed(hub, "answered.ami", tracker)
    await hub.drain()
    f1, f2 = drained(tab1), drained(tab2)
    assert f1 == f2 and len(f1) == 3
    seen = f1[0]["id"]  # tab 2 saw only the ringing frame, then lost its connection
    hub.unsubscribe(tab2)
    feed(hub, "agent_states.ami")
    await hub.drain()
    live = drained(tab1)
    back, backlog, gap = hub.subscribe("1001", last_event_id=seen)
    assert gap is False
    assert [json.loads(t) for t in backlog] == f1[1:] + live
    assert drained(back) == []


async def test_resume_beyond_the_buffer_reports_a_gap() -> None:
    hub = ScreenPopHub(FakeLookup(), buffer_size=2)
    sub = hub.subscribe("1001")[0]
    feed(hub, "answered.ami")
    await hub.drain()
    first = drained(sub)[0]["id"]
    _, backlog, gap = hub.subscribe("1001", last_event_id=first - 1)
    assert gap is True
    assert len(backlog) == 2


async def test_new_tab_gets_the_call_in_progress() -> None:
    hub = ScreenPopHub(FakeLookup())
    tracker = CallTracker()
    msgs = messages("answered.ami")
    connect = next(i for i, m in enumerate(msgs) if m.get("Event") == "AgentConnect")
    for msg in msgs[: connect + 1]:
        for event in tracker.feed(msg):
            hub.on_event(event)
    await hub.drain()
    _, backlog, _ = hub.subscribe("1001")
    assert [json.loads(t)["type"] for t in backlog] == ["ringing", "answered"]


async def test_stop_cancels_the_agent_tasks() -> None:
    hub = ScreenPopHub(FakeLookup(delay=10))
    sub = hub.subscribe("1001")[0]
    feed(hub, "answered.ami")
    await asyncio.sleep(0)
    await hub.stop()
    assert await sub.queue.get() is None  # subscribers are told to go


@pytest.mark.parametrize("trace", sorted(p.name for p in TRACES.glob("*.ami")))
async def test_every_recorded_trace_pops_each_ring_exactly_once(trace: str) -> None:
    hub = ScreenPopHub(FakeLookup())
    tracker = CallTracker()
    agent_called = sum(1 for m in messages(trace) if m.get("Event") == "AgentCalled")
    # The preferred agent is dialled by the caller's channel before it joins a queue:
    # no AgentCalled, but their phone rings and their desktop must pop too. So does
    # an agent's consultation call (linkedid_move: 1001's phone dials 1002), which
    # is a call of its own: any Dial by the channel that started its call
    # (Uniqueid == Linkedid) before a queue.
    queued: set[str] = set()
    direct = 0
    for m in messages(trace):
        if m.get("Event") == "QueueCallerJoin":
            queued.add(m.get("Uniqueid", ""))
        elif (
            m.get("Event") == "DialBegin"
            and m.get("Uniqueid")
            and m.get("Uniqueid") == m.get("Linkedid")
            and m.get("Uniqueid") not in queued
        ):
            direct += 1
    subs = [hub.subscribe(ext)[0] for ext in ("1001", "1002", "1003")]
    feed(hub, trace, tracker)
    await hub.drain()
    ringing = [f for s in subs for f in drained(s) if f["type"] == "ringing"]
    assert len(ringing) == agent_called + direct


async def test_agent_state_changes_reach_that_agent_only() -> None:
    from cti.agents.state import AgentStateTracker

    hub = ScreenPopHub(FakeLookup())
    mine, other = hub.subscribe("1001")[0], hub.subscribe("1002")[0]
    states = AgentStateTracker()
    tracker = CallTracker()
    for msg in messages("agent_states.ami"):
        for event in tracker.feed(msg):
            hub.on_event(event)
        for change in states.feed(msg):
            hub.on_agent_state(change)
    await hub.drain()
    frames = drained(mine)
    seen = [f["state"] for f in frames if f["type"] == "agent_state"]
    assert "ringing" in seen and "on_call" in seen and "paused" in seen
    assert all(f.get("extension", "1001") == "1001" for f in frames)
    # The ringing pop comes before the agent's own "on_call" state for the same call.
    kinds = [f["type"] if f["type"] != "agent_state" else f"state:{f['state']}" for f in frames]
    assert kinds.index("ringing") < kinds.index("state:on_call")
    assert all(f["extension"] != "1001" for f in drained(other) if f["type"] == "agent_state")


async def test_caller_is_looked_up_once_as_the_call_arrives() -> None:
    # ringnoanswer.ami: agent 1001 rings unanswered, then 1002 answers. One caller,
    # one database lookup, started on arrival and shared by both pops.
    lookup = FakeLookup(delay=0.01)
    hub = ScreenPopHub(lookup)
    subs = {ext: hub.subscribe(ext)[0] for ext in ("1001", "1002")}
    tracker = CallTracker()
    first_ring = None
    calls = 0
    for msg in messages("ringnoanswer.ami"):
        for event in tracker.feed(msg):
            if event.type is DomainEventType.AGENT_RINGING and first_ring is None:
                first_ring = len(lookup.asked)
            calls += event.type is DomainEventType.CALL_STARTED
            hub.on_event(event)
        await asyncio.sleep(0)  # events arrive over many socket reads; the loop runs between
    await hub.drain()
    assert calls == 1
    assert first_ring == 1  # already asked before the first phone rang
    assert len(lookup.asked) == 1
    pops = [f for s in subs.values() for f in drained(s) if f["type"] == "ringing"]
    assert len(pops) == 2
    assert all(f["customer"]["name"] == f"customer of {lookup.asked[0]}" for f in pops)


async def test_a_hostile_pause_reason_reaches_the_agent_as_plain_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14 row 11: a pause reason set in Asterisk is any text (another AMI client,
    the CLI); with ``"]`` it broke the page's state label. The hub sends it as a JSON
    string, without control characters, and the agent shows as paused."""
    from cti.agents.state import AgentStateTracker

    hostile = '午休"] .x[data-state="available"]\x1b[31m\r\nforged\x00'
    caplog.set_level("DEBUG")
    hub = ScreenPopHub(FakeLookup())
    mine = hub.subscribe("1001")[0]
    states = AgentStateTracker()
    for msg in messages("agent_states.ami"):
        if msg.get("Event") == "QueueMemberPause" and msg.get("Paused") == "1":
            msg = {**msg, "PausedReason": hostile}
        for change in states.feed(msg):
            hub.on_agent_state(change)
    await hub.drain()
    paused = [f for f in drained(mine) if f["type"] == "agent_state" and f["state"] == "paused"]
    assert paused
    assert {f["paused_reason"] for f in paused} == {'午休"] .x[data-state="available"][31m  forged'}
    assert "\x1b" not in caplog.text and "forged\x00" not in caplog.text


def with_confirmation_facts(
    msgs: list[Mapping[str, str]], linkedid: str
) -> list[Mapping[str, str]]:
    """The trace as an order-confirmation call: the dialplan's variables on the caller."""
    first = next(i for i, m in enumerate(msgs) if m.get("Uniqueid") == linkedid)
    facts = [
        {"Event": "VarSet", "Uniqueid": linkedid, "Variable": variable, "Value": value}
        for variable, value in (("CTI_ORDER_ID", "SO-2026-0001"), ("CTI_DIRECTION", "outbound"))
    ]
    return [*msgs[: first + 1], *facts, *msgs[first + 1 :]]


@pytest.mark.parametrize("confirmation", [False, True], ids=["inbound", "confirmation"])
async def test_a_customer_put_through_from_a_confirmation_call_pops_with_the_order(
    confirmation: bool,
) -> None:
    tracker = CallTracker()
    hub = ScreenPopHub(FakeLookup(), call_facts=tracker.call_facts)
    sub, _, _ = hub.subscribe("1001")
    msgs = messages("answered.ami")
    if confirmation:
        msgs = with_confirmation_facts(msgs, "1795430853.8")
    for msg in msgs:
        for event in tracker.feed(msg):
            hub.on_event(event)
    await hub.drain()
    [ringing] = [f for f in drained(sub) if f["type"] == "ringing"]
    assert ringing["caller"] == {"number": "13800138000", "name": "张伟"}
    assert ringing["customer"]["name"] == "customer of 13800138000"
    if confirmation:
        assert (ringing["origin"], ringing["order_id"]) == ("confirmation", "SO-2026-0001")
    else:
        assert "origin" not in ringing and "order_id" not in ringing


class FakeReceipt:
    """Stands in for the AMI read stamps (cti.ami.receipt.AmiReceipt)."""

    def __init__(self) -> None:
        self.read_at: float | None = None
        self.t = 0.0

    def now(self) -> float:
        return self.t


async def test_pop_latency_runs_from_the_agentcalled_read_to_the_frame_sent() -> None:
    receipt = FakeReceipt()
    pops: list[float] = []
    hub = ScreenPopHub(FakeLookup(), receipt=receipt, on_pop=pops.append)
    sub, _, _ = hub.subscribe("1001")
    tracker = CallTracker()
    for msg in messages("answered.ami"):
        # Every event is handled inside the read that brought it (cti.ami.protocol).
        receipt.read_at = 50.0 if msg.get("Event") == "AgentCalled" else 10.0
        for event in tracker.feed(msg):
            hub.on_event(event)
    receipt.read_at = None
    await hub.drain()
    texts = []
    while not sub.queue.empty():
        text = sub.queue.get_nowait()
        assert text is not None
        texts.append(text)
    receipt.t = 50.004
    for text in texts:
        sub.sent(text)  # what WS /ws/agent does once a frame is written
    # Only the ringing frame is a pop, timed from its AgentCalled's read.
    assert [json.loads(t)["type"] for t in texts] == ["ringing", "answered", "ended"]
    assert pops == [pytest.approx(0.004)]


async def test_frames_replayed_to_a_new_tab_are_not_timed_as_pops() -> None:
    receipt = FakeReceipt()
    pops: list[float] = []
    hub = ScreenPopHub(FakeLookup(), receipt=receipt, on_pop=pops.append)
    receipt.read_at = 1.0
    tracker = CallTracker()
    for msg in messages("answered.ami"):
        if msg.get("Event") == "AgentConnect":
            break  # the call still rings at 1001
        for event in tracker.feed(msg):
            hub.on_event(event)
    await hub.drain()
    late, backlog, _ = hub.subscribe("1001")  # a tab opened while it rings
    assert [json.loads(t)["type"] for t in backlog] == ["ringing"]
    receipt.t = 9.0
    for text in backlog:
        late.sent(text)
    assert pops == []


async def test_a_caller_looked_up_on_arrival_pops_within_the_agentcalled_read() -> None:
    hub = ScreenPopHub(FakeLookup())
    sub, _, _ = hub.subscribe("1001")
    tracker = CallTracker()
    for msg in messages("answered.ami"):
        if msg.get("Event") == "AgentCalled":
            await asyncio.sleep(0)  # the caller rang in the queue: the lookup is done
            await asyncio.sleep(0)
            assert sub.queue.empty()
            for event in tracker.feed(msg):
                hub.on_event(event)
            # No turn of the event loop in between: the frame is queued for the socket.
            assert json.loads(sub.queue.get_nowait() or "{}")["type"] == "ringing"
            return
        for event in tracker.feed(msg):
            hub.on_event(event)
    raise AssertionError("no AgentCalled in the trace")
