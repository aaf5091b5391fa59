"""The event bus: published once, every subscriber hears it, a failing one is isolated."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from cti.bus import EventBus


@dataclass(frozen=True)
class Rang:
    agent: str


@dataclass(frozen=True)
class RangVip(Rang):
    pass


def test_every_subscriber_hears_the_event_once_in_registration_order() -> None:
    bus = EventBus()
    heard: list[str] = []
    bus.subscribe(Rang, lambda e: heard.append(f"a:{e.agent}"), name="a")
    bus.subscribe(Rang, lambda e: heard.append(f"b:{e.agent}"), name="b")
    bus.subscribe(int, lambda e: heard.append("wrong type"), name="c")
    bus.publish(Rang("1001"))
    assert heard == ["a:1001", "b:1001"]


def test_subscribers_of_a_base_class_hear_subclasses() -> None:
    bus = EventBus()
    heard: list[object] = []
    bus.subscribe(Rang, heard.append, name="any ring")
    bus.publish(RangVip("1002"))
    assert heard == [RangVip("1002")]
    assert bus.subscribers(RangVip) == ["any ring"]


def test_a_failing_subscriber_is_isolated_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[str] = []
    bus = EventBus(on_failure=failures.append)
    heard: list[Rang] = []

    def broken(_: Rang) -> None:
        raise RuntimeError("bug in a subscriber")

    bus.subscribe(Rang, broken, name="broken")
    bus.subscribe(Rang, heard.append, name="screenpop")
    with caplog.at_level(logging.ERROR, logger="cti.bus"):
        bus.publish(Rang("1001"))
        bus.publish(Rang("1002"))
    assert heard == [Rang("1001"), Rang("1002")]  # the others still hear every event
    assert failures == ["broken", "broken"]
    # Only the bus's own lines: a collection during the block may log another test's
    # leftovers (asyncio's "Future exception was never retrieved").
    bus_lines = [r.getMessage() for r in caplog.records if r.name == "cti.bus"]
    assert bus_lines == ["subscriber broken failed on Rang"] * 2
    assert "bug in a subscriber" in caplog.text  # with its traceback


async def test_async_subscribers_run_as_owned_tasks_and_their_failures_are_counted() -> None:
    failures: list[str] = []
    bus = EventBus(on_failure=failures.append)
    done: list[str] = []

    async def slow(e: Rang) -> None:
        await asyncio.sleep(0)
        done.append(e.agent)

    async def broken(_: Rang) -> None:
        raise ValueError("async bug")

    bus.subscribe(Rang, slow, name="slow")
    bus.subscribe(Rang, broken, name="async broken")
    bus.publish(Rang("1003"))
    assert done == []  # publish never waits
    await bus.drain()
    assert done == ["1003"]
    assert failures == ["async broken"]
    assert bus.running == 0


async def test_deliver_waits_for_every_subscriber() -> None:
    bus = EventBus()
    done: list[str] = []

    async def durable_write(e: Rang) -> None:
        await asyncio.sleep(0)
        done.append(e.agent)

    bus.subscribe(Rang, durable_write, name="write")
    await bus.deliver(Rang("1001"))
    assert done == ["1001"]


async def test_stop_cancels_what_does_not_finish() -> None:
    bus = EventBus()
    started = asyncio.Event()

    async def forever(_: Rang) -> None:
        started.set()
        await asyncio.Event().wait()

    bus.subscribe(Rang, forever, name="stuck")
    bus.publish(Rang("1001"))
    await started.wait()
    await bus.stop(timeout=0.01)
    assert bus.running == 0
