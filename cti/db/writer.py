"""A durable background writer: items in without blocking, written in batches.

:meth:`BatchWriter._add` never blocks and never touches the database. A background
task hands the oldest items, at most ``batch_size`` at a time, to :meth:`~BatchWriter._write`;
when the database is slow or down the items stay buffered and are written, in order,
once it answers again (retrying with a doubling delay). Nothing is dropped, so a
batch may be written twice after an error: ``_write`` must skip what is already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchWriter(ABC, Generic[T]):
    def __init__(
        self,
        *,
        name: str,
        what: str,
        log: logging.Logger,
        batch_size: int,
        retry_min: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self._name = name
        """The background task's name."""
        self._what = what
        """What the items are, for the logs ("call records")."""
        self._log = log
        self._pending: deque[T] = deque()
        self._wakeup = asyncio.Event()
        self._batch_size = batch_size
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None

    @abstractmethod
    async def _write(self, batch: Sequence[T]) -> None:
        """Store ``batch`` in one transaction, skipping what is already stored."""

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _add(self, item: T) -> None:
        self._pending.append(item)
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Write what is buffered (bounded by ``drain_timeout``), then stop."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(drain_timeout):
                while self._pending and not self._task.done():
                    self._wakeup.set()
                    await asyncio.sleep(0.05)
        except TimeoutError:
            self._log.error("stopping with %d %s not yet written", len(self._pending), self._what)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def flush(self) -> None:
        while self._pending:
            self._wakeup.set()
            await asyncio.sleep(0.02)

    async def _run(self) -> None:
        delay = self._retry_min
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = [self._pending[i] for i in range(min(self._batch_size, len(self._pending)))]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database down, slow, or refusing: keep and retry
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self._log.warning(
                    "%s not written (%d buffered), retrying in %.1fs: %s",
                    self._what,
                    len(self._pending),
                    delay,
                    self.last_error,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_min
            self.last_error = None
            for _ in batch:
                self._pending.popleft()
            self.written += len(batch)
