"""The rollups' flusher: one flush for the writes of a moment, again after a failure,
and nothing left running when the service stops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cti.stats.flusher import RollupFlusher


class Flushes:
    """A flush that counts its runs, fails when told to, and can be held."""

    def __init__(self, fail: int = 0) -> None:
        self.runs = 0
        self.fail = fail
        self.ran = asyncio.Event()
        self.release: asyncio.Event | None = None

    async def __call__(self) -> int:
        self.runs += 1
        self.ran.set()
        if self.release is not None:
            await self.release.wait()
        if self.fail:
            self.fail -= 1
            raise OSError("database down")
        return 1

    async def next_run(self) -> None:
        await asyncio.wait_for(self.ran.wait(), 10)
        self.ran.clear()


async def test_the_writes_of_a_moment_are_flushed_together() -> None:
    flushes = Flushes()
    flusher = RollupFlusher(flushes, delay_s=0.05, idle_s=3600)
    flusher.start()  # what the last run left: a flush at start
    for _ in range(5):  # five batches within the delay
        flusher.poke()
    await flushes.next_run()
    assert flushes.runs == 1
    flusher.poke()
    await flushes.next_run()
    assert flushes.runs == 2 and flusher.flushes == 2
    await flusher.stop()


async def test_a_failed_flush_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    flushes = Flushes(fail=1)
    flusher = RollupFlusher(flushes, delay_s=0.01, idle_s=3600, retry_s=0.01)
    with caplog.at_level(logging.ERROR, logger="cti.stats.flusher"):
        flusher.start()
        await flushes.next_run()
        await flushes.next_run()  # not poked again: the flusher retries on its own
    assert flushes.runs == 2 and flusher.failures == 1 and flusher.flushes == 1
    assert "not flushed" in caplog.text
    await flusher.stop()


async def test_stopping_ends_a_flush_under_way() -> None:
    flushes = Flushes()
    flushes.release = asyncio.Event()  # never set: a flush that would not end
    flusher = RollupFlusher(flushes, delay_s=0.01, idle_s=3600)
    flusher.start()
    await flushes.next_run()
    await flusher.stop()
    assert flushes.runs == 1 and flusher.flushes == 0
    await flusher.stop()  # twice is fine
