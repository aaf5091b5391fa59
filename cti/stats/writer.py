"""Durable agent state history: every :class:`AgentStateChanged` becomes a row.

A :class:`cti.db.writer.BatchWriter`, like :class:`cti.calls.writer.CallRecordWriter`:
:meth:`AgentStateWriter.submit` never blocks; a background task writes in batches and
keeps the rows (in order) while the database is down. A row already stored (a replayed
trace, a retried batch) is skipped by the table's unique key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.agents.state import AgentStateChanged
from cti.db.batch import dialect_insert
from cti.db.writer import BatchWriter
from cti.stats.models import AgentStateRecord
from cti.stats.rollups import states_written

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
    """Store the rows (skipping those already stored) and mark the agents' time rollups
    they touch (:mod:`cti.stats.rollups`)."""
    if rows:
        stmt = dialect_insert(session, AgentStateRecord.__table__).on_conflict_do_nothing()
        await session.execute(stmt, list(rows))
        await states_written(session, [(row["interface"], row["at"], row["queue"]) for row in rows])


class AgentStateWriter(BatchWriter[dict[str, Any]]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        on_written: Callable[[], None] | None = None,
        batch_size: int = 500,
        retry_min: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        super().__init__(
            name="agent-state-writer",
            what="agent state rows",
            log=log,
            batch_size=batch_size,
            retry_min=retry_min,
            retry_max=retry_max,
        )
        self._sessions = sessions
        self._on_written = on_written
        """Told after each batch is stored (the rollups' flusher)."""

    def submit(self, event: AgentStateChanged, now: float) -> None:
        self._add(state_row(event, now))

    async def _write(self, batch: Sequence[dict[str, Any]]) -> None:
        async with self._sessions() as session, session.begin():
            await write_states(session, batch)
        if batch and self._on_written is not None:
            self._on_written()
