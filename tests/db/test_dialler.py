"""The confirmation dialler's rules, on the real jobs table (SQLite and PostgreSQL).

Asterisk is stood in for by a sender that answers Originate with an
``OriginateResponse`` of a given reason (the real exchange is proven by the
integration test with SIPp customers); everything else is the real code.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.codec import AmiMessage
from cti.clock import FixedClock
from cti.confirmations.config import ConfirmationSettings
from cti.confirmations.dialler import DIAL_JOB, Dialler, schedule_attempt
from cti.confirmations.models import Confirmation, ConfirmationAttempt, ConfirmationStatus
from cti.confirmations.results import notify_shop
from cti.jobs.errors import RetryLater
from cti.jobs.models import Job, JobStatus
from cti.jobs.runner import JobRunner
from cti.shops.models import DoNotCall, Shop
from cti.webhooks.models import WebhookDelivery

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


class FakeAsterisk:
    """Answers each Originate with the next reason; remembers every call placed."""

    def __init__(self, *reasons: int) -> None:
        self.reasons = list(reasons)
        self.placed: list[dict[str, Any]] = []
        self.logged_in = True
        self.synced = True
        self.gate: asyncio.Event | None = None
        self.dialled = asyncio.Event()

    async def send_action(self, headers: Mapping[str, Any]) -> AmiMessage:
        raise AssertionError(f"unexpected action {headers.get('Action')}")

    async def send_originate(self, headers: Mapping[str, Any], timeout: float) -> AmiMessage:
        self.placed.append(dict(headers))
        self.dialled.set()
        if self.gate is not None:
            await self.gate.wait()
        reason = self.reasons.pop(0)
        return AmiMessage(
            [
                ("Event", "OriginateResponse"),
                ("Response", "Success" if reason == 4 else "Failure"),
                ("Reason", str(reason)),
                ("Uniqueid", str(headers.get("ChannelId", ""))),
            ]
        )


def build(
    sessions: async_sessionmaker[AsyncSession], ami: FakeAsterisk, clock: FixedClock
) -> tuple[Dialler, JobRunner]:
    dialler = Dialler(
        sessions,
        ConfirmationSettings(retry_base_s=60, retry_factor=2, ring_timeout_s=10),
        clock=clock,
        ami=lambda: ami,
        live_call=lambda linkedid: None,
        notify=notify_shop,
    )
    runner = JobRunner(sessions, clock=clock, handlers={DIAL_JOB: dialler.handle})
    return dialler, runner


async def add(
    sessions: async_sessionmaker[AsyncSession],
    phone: str = "+8613800138001",
    *,
    max_attempts: int = 2,
    window: tuple[str, str] = ("09:00", "21:00"),
    dnc: bool = False,
) -> str:
    async with sessions() as s, s.begin():
        if await s.get(Shop, "shop-a") is None:
            s.add(
                Shop(
                    id="shop-a",
                    secret="s",
                    window_start=window[0],
                    window_end=window[1],
                    caller_id="4008001234",
                    max_concurrent=2,
                    created_at=T0,
                    updated_at=T0,
                )
            )
        if dnc:
            s.add(DoNotCall(phone=phone, shop="", reason="asked", created_at=T0))
        row = Confirmation(
            public_id=f"cfm_{phone[-4:]}",
            shop="shop-a",
            order_id="E1",
            phone=phone,
            facts={"amount": "2300.50", "item_count": 1, "reason": "high_amount"},
            status=ConfirmationStatus.QUEUED.value,
            max_attempts=max_attempts,
            idempotency_key=phone,
            request_hash="x",
            created_at=T0,
            updated_at=T0,
        )
        s.add(row)
        await s.flush()
        await schedule_attempt(s, row, 1, at=T0, now=T0)
    return row.public_id


async def state(sessions: async_sessionmaker[AsyncSession], public_id: str) -> Confirmation:
    async with sessions() as s:
        row = await s.scalar(select(Confirmation).where(Confirmation.public_id == public_id))
        assert row is not None
        await s.refresh(row, ["attempt_rows"])
        return row


async def test_answered_then_key_1_is_confirmed_with_one_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    ami = FakeAsterisk(4)
    dialler, runner = build(sessions, ami, clock)
    cid = await add(sessions)
    assert await runner.run_once() == 1
    [placed] = ami.placed
    assert placed["Channel"] == "PJSIP/13800138001@cti-trunk"
    assert re.fullmatch(r"\d{10}\.\d{10}", placed["ChannelId"]), placed["ChannelId"]
    assert placed["CallerID"] == "4008001234"
    assert f"CTI_CONFIRMATION={cid}" in placed["Variable"]
    assert (await state(sessions, cid)).status == "dialling"

    await dialler.record_answer(cid, placed["ChannelId"], "1", "confirmed")
    row = await state(sessions, cid)
    assert row.status == "confirmed" and row.finished_at == T0
    assert [(a.n, a.result, a.digit) for a in row.attempt_rows] == [(1, "answered", "1")]
    # The call's end changes nothing more.
    await dialler.on_call_ended(placed["ChannelId"], answered=True)
    assert (await state(sessions, cid)).status == "confirmed"
    # The shop hears the result once, with every attempt.
    async with sessions() as s:
        [delivery] = (await s.scalars(select(WebhookDelivery))).all()
    body = json.loads(delivery.body)
    assert body["type"] == "confirmation.finished"
    assert body["data"]["confirmation_id"] == cid and body["data"]["result"] == "confirmed"
    assert [a["digit"] for a in body["data"]["attempts"]] == ["1"]


async def test_busy_is_retried_after_the_backoff_then_given_up(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    ami = FakeAsterisk(5, 5)
    _, runner = build(sessions, ami, clock)
    cid = await add(sessions, max_attempts=2)
    assert await runner.run_once() == 1
    row = await state(sessions, cid)
    assert row.status == "queued" and row.attempts == 1
    assert row.next_attempt_at == T0 + timedelta(seconds=60)
    assert await runner.run_once() == 0  # not before the backoff
    clock.advance(60)
    assert await runner.run_once() == 1
    row = await state(sessions, cid)
    assert row.status == "busy" and row.attempts == 2
    assert [a.result for a in row.attempt_rows] == ["busy", "busy"]
    assert len(ami.placed) == 2


async def test_do_not_call_is_never_dialled(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FixedClock(T0)
    ami = FakeAsterisk()
    _, runner = build(sessions, ami, clock)
    cid = await add(sessions, "+8613800138003", dnc=True)
    assert await runner.run_once() == 1
    assert (await state(sessions, cid)).status == "do_not_call"
    assert ami.placed == []


async def test_outside_the_window_waits_without_spending_attempts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)  # 11:00 in Shanghai
    ami = FakeAsterisk(4)
    _, runner = build(sessions, ami, clock)
    cid = await add(sessions, window=("13:00", "21:00"))
    assert await runner.run_once() == 1
    assert ami.placed == []
    async with sessions() as s:
        job = await s.scalar(select(Job).where(Job.kind == DIAL_JOB))
        assert job is not None and job.status == JobStatus.QUEUED.value and job.attempts == 0
        assert job.run_after == T0 + timedelta(hours=2)  # 13:00 Shanghai
    clock.advance(2 * 3600)
    assert await runner.run_once() == 1
    assert len(ami.placed) == 1
    assert (await state(sessions, cid)).attempts == 1


async def test_a_claimed_attempt_is_never_dialled_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A second run of the same attempt (a crash, a lost lease) must not call again."""
    clock = FixedClock(T0)
    ami = FakeAsterisk(4)
    dialler, _ = build(sessions, ami, clock)
    cid = await add(sessions)
    payload = {"public_id": cid, "n": 1}
    async with sessions() as s, s.begin():
        await dialler.handle(s, payload)
    assert len(ami.placed) == 1
    # The same job again, as after a crash: nothing is placed; the attempt waits for its
    # call, and a call that never came counts as lost and leads to attempt 2.
    async with sessions() as s, s.begin():
        row = await s.scalar(select(Confirmation).where(Confirmation.public_id == cid))
        assert row is not None
        attempt = await s.scalar(select(ConfirmationAttempt))
        assert attempt is not None
        attempt.result = None  # as if the worker died before it heard the answer
    clock.advance(60)
    async with sessions() as s, s.begin():
        await dialler.handle(s, payload)
    assert len(ami.placed) == 1
    row = await state(sessions, cid)
    assert [a.result for a in row.attempt_rows] == ["lost"]
    assert row.status == "queued" and row.attempts == 1


async def test_two_workers_racing_for_one_attempt_dial_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    ami = FakeAsterisk(4, 4)
    ami.gate = asyncio.Event()
    dialler, _ = build(sessions, ami, clock)
    cid = await add(sessions)
    payload = {"public_id": cid, "n": 1}

    async def worker() -> None:
        async with sessions() as s, s.begin():
            await dialler.handle(s, payload)

    tasks = [asyncio.create_task(worker()) for _ in range(2)]
    await asyncio.sleep(0.5)
    ami.gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(ami.placed) == 1


async def test_answered_and_hung_up_without_a_key_is_not_confirmed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    ami = FakeAsterisk(4)
    dialler, runner = build(sessions, ami, clock)
    cid = await add(sessions)
    assert await runner.run_once() == 1
    await dialler.on_call_ended(ami.placed[0]["ChannelId"], answered=True)
    assert (await state(sessions, cid)).status == "not_confirmed"


async def test_a_busy_call_ending_before_its_originate_response_is_not_settled_early(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Asterisk ends a busy channel (tracker: ENDED) before the OriginateResponse arrives."""
    clock = FixedClock(T0)
    ami = FakeAsterisk(0)
    ami.gate = asyncio.Event()
    dialler, _ = build(sessions, ami, clock)
    cid = await add(sessions, max_attempts=2)

    async def run() -> None:
        async with sessions() as s, s.begin():
            await dialler.handle(s, {"public_id": cid, "n": 1})

    task = asyncio.create_task(run())
    await ami.dialled.wait()
    dialler.saw_end(ami.placed[0]["ChannelId"], 17)
    await dialler.on_call_ended(ami.placed[0]["ChannelId"], answered=False, cause=17)
    assert (await state(sessions, cid)).status == "dialling"
    ami.gate.set()
    await task
    row = await state(sessions, cid)
    # Asterisk 22 says Reason 0 for a 486; the hangup cause 17 makes it busy.
    assert row.status == "queued" and [a.result for a in row.attempt_rows] == ["busy"]


def build_live(
    sessions: async_sessionmaker[AsyncSession],
    ami: FakeAsterisk,
    clock: FixedClock,
    live: set[str],
) -> tuple[Dialler, JobRunner]:
    """A service (process) whose tracker knows the calls in ``live``."""
    dialler = Dialler(
        sessions,
        ConfirmationSettings(
            retry_base_s=60, retry_factor=2, ring_timeout_s=10, answered_check_s=30
        ),
        clock=clock,
        ami=lambda: ami,
        live_call=lambda linkedid: object() if linkedid in live else None,
        notify=notify_shop,
    )
    return dialler, JobRunner(sessions, clock=clock, handlers={DIAL_JOB: dialler.handle})


async def deliveries(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as s:
        return [json.loads(d.body) for d in (await s.scalars(select(WebhookDelivery))).all()]


async def test_an_answered_call_that_ended_while_the_service_was_down_is_dialled_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """kill -9 while the customer is in the menu: nobody hears the call end. The
    confirmation must not stay ``dialling`` for ever; the next attempt reaches the customer."""
    clock = FixedClock(T0)
    ami = FakeAsterisk(4, 4)
    live: set[str] = set()
    _, before = build_live(sessions, ami, clock, live)
    cid = await add(sessions, max_attempts=2)
    assert await before.run_once() == 1
    first = ami.placed[0]["ChannelId"]
    live.add(first)
    assert (await state(sessions, cid)).status == "dialling"

    # The service restarts; while the call lasts the check only looks.
    dialler, runner = build_live(sessions, ami, clock, live)
    clock.advance(30)
    assert await runner.run_once() == 1
    assert len(ami.placed) == 1 and (await state(sessions, cid)).status == "dialling"
    # Until Asterisk's list of calls is known, "not live" proves nothing.
    live.discard(first)
    ami.synced = False
    clock.advance(30)
    assert await runner.run_once() == 1
    assert (await state(sessions, cid)).status == "dialling"
    ami.synced = True
    clock.advance(30)
    assert await runner.run_once() == 1
    row = await state(sessions, cid)
    assert row.status == "queued" and [a.result for a in row.attempt_rows] == ["lost"]
    assert len(ami.placed) == 1  # the lost attempt itself is never dialled again
    clock.advance(60)
    assert await runner.run_once() == 1
    assert len(ami.placed) == 2
    await dialler.record_answer(cid, ami.placed[1]["ChannelId"], "1", "confirmed")
    row = await state(sessions, cid)
    assert row.status == "confirmed" and row.attempts == 2
    [event] = await deliveries(sessions)
    assert event["data"]["result"] == "confirmed"
    # The check of attempt 2 finds it settled and does nothing.
    clock.advance(30)
    assert await runner.run_once() == 1
    assert len(ami.placed) == 2 and len(await deliveries(sessions)) == 1


async def test_a_call_end_seen_by_this_process_is_left_to_its_settling(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(T0)
    ami = FakeAsterisk(4)
    dialler, runner = build_live(sessions, ami, clock, set())
    cid = await add(sessions)
    assert await runner.run_once() == 1
    dialler.saw_end(ami.placed[0]["ChannelId"], 16)  # on_call_ended is on its way
    async with sessions() as s, s.begin():
        try:
            await dialler.handle(s, {"public_id": cid, "n": 1})
        except RetryLater:
            pass
        else:
            raise AssertionError("the check settled a call whose end is being settled")
    await dialler.on_call_ended(ami.placed[0]["ChannelId"], answered=True)
    assert (await state(sessions, cid)).status == "not_confirmed"


async def test_one_end_settled_by_two_instances_at_once_is_one_result(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Both instances' trackers see the call end; the shop hears one result."""
    clock = FixedClock(T0)
    ami = FakeAsterisk(4)
    one, runner = build_live(sessions, ami, clock, set())
    two, _ = build_live(sessions, ami, clock, set())
    cid = await add(sessions)
    assert await runner.run_once() == 1
    channel = ami.placed[0]["ChannelId"]
    await asyncio.gather(
        one.on_call_ended(channel, answered=True), two.on_call_ended(channel, answered=True)
    )
    assert (await state(sessions, cid)).status == "not_confirmed"
    assert [e["data"]["result"] for e in await deliveries(sessions)] == ["not_confirmed"]
