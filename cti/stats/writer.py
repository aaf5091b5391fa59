"""Durable agent state history: every :class:`AgentStateChanged` becomes a row.

Like :class:`cti.calls.writer.CallRecordWriter`: :meth:`AgentStateWriter.submit`
never blocks; a background task writes in batches and keeps the rows (in order)
while the database is down. A row already stored (a replayed trace, a retried batch)
is skipped by the table's unique key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.agents.state import AgentStateChanged
from cti.db.batch import dialect_insert
from cti.stats.models import AgentStateRecord

log = logging.getLogger(__name__)


def state_row(event: AgentStateChanged, now: float) -> dict[str, Any]:
    """The row of a change. ``now`` (Asterisk's clock) dates a pause's new reason: the
    event's ``since`` is still the start of the pause."""
    at = now if event.state is event.previous else event.since
    return {
        "interface": event.interface[:80],
        "member_name": (event.member_name or None) and event.member_name[:80],
        "state": event.state.value,
        "previous": event.previous.value,
        "at": datetime.fromtimestamp(at, UTC),
        "paused_reason": (event.paused_reason or "")[:80],
        "queue": event.queue[:80] if event.queue else None,
    }


async def write_states(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        stmt = dialect_insert(session, AgentStateRecord.__table__).on_conflict_do_nothing()
        await session.execute(stmt, list(rows))


class AgentStateWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        batch_size: int = 500,
        retry_min: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._pending: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._batch_size = batch_size
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, event: AgentStateChanged, now: float) -> None:
        self._pending.append(state_row(event, now))
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-state-writer")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        if self._task is None:
            return
        try:
            async with asyncio.timeout(drain_timeout):
                while self._pending and not self._task.done():
                    self._wakeup.set()
                    await asyncio.sleep(0.05)
        except TimeoutError:
            log.error("stopping with %d agent state rows not yet written", len(self._pending))
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
                async with self._sessions() as session, session.begin():
                    await write_states(session, batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database down or refusing: keep and retry
                self.failures += 1
                log.warning(
                    "agent states not written (%d buffered), retrying in %.1fs: %s",
                    len(self._pending),
                    delay,
                    f"{type(exc).__name__}: {exc}"[:300],
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = self._retry_min
            for _ in batch:
                self._pending.popleft()
            self.written += len(batch)
