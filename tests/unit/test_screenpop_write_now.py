"""Frames written at once by whoever pushes them, and their order on the socket."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from cti.screenpop.eager import run_eagerly
from cti.screenpop.hub import Subscriber
from cti.screenpop.router import _send_frames


async def test_a_coroutine_that_never_waits_runs_to_its_end_in_the_caller() -> None:
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    assert run_eagerly(write()) is None
    assert done == ["written"]


async def test_a_coroutine_that_waits_is_finished_by_a_task() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def write() -> None:
        steps.append("before")
        steps.append(await gate)

    task = run_eagerly(write())
    assert task is not None and steps == ["before"]
    gate.set_result("after")
    await task
    assert steps == ["before", "after"]


async def test_an_error_before_waiting_reaches_the_caller() -> None:
    async def write() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        run_eagerly(write())


@pytest.mark.parametrize("started", [False, True])
async def test_cancelling_the_task_cancels_the_coroutine(started: bool) -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cleaned: list[bool] = []

    async def write() -> None:
        try:
            await gate
        finally:
            cleaned.append(True)

    task = run_eagerly(write())
    assert task is not None
    if started:
        await asyncio.sleep(0)  # the task is waiting on the gate for the coroutine
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


class SlowSocket:
    """A WebSocket whose first send waits (its buffer is full) until released."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.release: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def send_text(self, text: str) -> None:
        if not self.received and not self.release.done():
            await self.release
        self.received.append(text)


async def test_frames_keep_their_order_when_a_write_has_to_wait() -> None:
    sent: list[str] = []
    sub = Subscriber("1001", on_sent=sent.append)
    ws = SlowSocket()
    sender = asyncio.create_task(_send_frames(ws, sub))  # type: ignore[arg-type]
    sub.write_now_with(ws.send_text)
    sub.push("ringing")  # written at once, but the socket makes it wait...
    sub.push("answered")  # ...so these wait their turn in the queue
    sub.push("ended")
    assert ws.received == [] and sub.queue.qsize() == 2
    await asyncio.sleep(0.01)
    assert ws.received == []  # the sender does not overtake the frame in flight
    ws.release.set_result(None)
    for _ in range(100):
        await asyncio.sleep(0)
    assert ws.received == ["ringing", "answered", "ended"]
    assert sent == ["ringing", "answered", "ended"]
    sub.push("next call")  # nothing waits any more: written in the push itself
    assert ws.received[-1] == "next call" and sent[-1] == "next call"
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender


async def test_a_write_to_a_closed_socket_ends_the_connection() -> None:
    sub = Subscriber("1001")

    async def closed(text: str) -> None:
        raise RuntimeError("Cannot call send once a close message has been sent.")

    sub.write_now_with(closed)
    sub.push("ringing")
    assert sub.dropped
    assert sub.queue.get_nowait() is None  # the sender is told to go
