"""The background job that keeps the statistics' rollups: a flush a little after writes.

Writers of calls, ratings and agent states only leave marks (:mod:`cti.stats.rollups`)
and :meth:`RollupFlusher.poke` it. The flusher waits ``delay_s`` after the first poke, so
the batches written meanwhile are recomputed by one flush, then flushes. It also looks
every ``idle_s`` without being poked (marks left by another process, ``cti replay
--store``, or by the previous run). A failed flush is logged and tried again after
``retry_s``: the marks stay in the database until a flush succeeds, and the statistics
flush before reading (:func:`cti.stats.rollups.flush_pending`), so they stay exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Flush = Callable[[], Awaitable[int]]
"""Recomputes what the marks name; how many marks it read."""


class RollupFlusher:
    def __init__(
        self, flush: Flush, *, delay_s: float = 2.0, idle_s: float = 60.0, retry_s: float = 10.0
    ) -> None:
        self._flush = flush
        self._delay_s = delay_s
        self._idle_s = idle_s
        self._retry_s = retry_s
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0
        """Flushes that recomputed something."""
        self.failures = 0

    def poke(self) -> None:
        """Marks were written: flush within ``delay_s`` (never blocks)."""
        self._poked.set()

    def start(self) -> None:
        if self._task is None:
            self._poked.set()  # marks the previous run left
            self._task = asyncio.create_task(self._run(), name="stats-rollups-flush")

    async def stop(self) -> None:
        """Stop at once; marks not flushed yet stay for the next start (or read)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self._idle_s)
            # The batches written meanwhile are recomputed by this one flush.
            await asyncio.sleep(self._delay_s)
            self._poked.clear()
            try:
                if await self._flush():
                    self.flushes += 1
            except Exception:
                self.failures += 1
                log.exception(
                    "statistics rollups not flushed; trying again in %.0f s", self._retry_s
                )
                await asyncio.sleep(self._retry_s)
                self._poked.set()
