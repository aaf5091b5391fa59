"""Durable writing of finished calls.

The AMI reader hands finished calls to :meth:`CallRecordWriter.submit`, which
never blocks and never touches the database. A background task writes them in
batches (:class:`cti.db.writer.BatchWriter`); when the database is slow or down the
calls stay buffered and are written, in order, once it answers again. Nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.calls.facts import stats_facts
from cti.calls.models import CallEventRecord, CallRecord
from cti.calls.service import plain_data, utc
from cti.db.writer import BatchWriter
from cti.tracking.events import CallSummary

log = logging.getLogger(__name__)

WrapupOf = Callable[[str], float | None]
"""The wrap-up seconds app_queue holds an agent (interface) for after a call, if known."""


def to_record(summary: CallSummary, wrapup_of: WrapupOf | None = None) -> CallRecord:
    facts = stats_facts(summary)
    wrapup_s = None
    if facts.answered_in_queue and summary.agent and wrapup_of is not None:
        wrapup_s = wrapup_of(summary.agent)
    record = CallRecord(
        linkedid=summary.linkedid,
        caller_number=summary.caller_number,
        caller_name=summary.caller_name,
        dnis=summary.dnis,
        queue=facts.queue,
        agent=summary.agent,
        outcome=summary.outcome.value,
        started_at=utc(summary.started_at),
        ended_at=utc(summary.ended_at),
        wait_s=facts.wait_s,
        talk_s=summary.talk_s,
        hangup_cause=summary.hangup_cause,
        direction=summary.direction,
        order_id=summary.order_id,
        offered_at=None if facts.offered_at is None else utc(facts.offered_at),
        answered_at=None if facts.answered_at is None else utc(facts.answered_at),
        wrapup_s=wrapup_s,
        transfers=facts.transfers,
        voicemail=facts.voicemail,
    )
    record.events = [
        CallEventRecord(seq=i, type=ev.type.value, at=utc(ev.timestamp), data=plain_data(ev.data))
        for i, ev in enumerate(summary.timeline)
    ]
    return record


WriteHook = Callable[[AsyncSession, CallSummary], Awaitable[None]]
"""Runs in the same transaction as the call's insert, e.g. remembering the last agent."""

BatchHook = Callable[[AsyncSession, Sequence[CallSummary]], Awaitable[None]]
"""Runs once per batch, after its calls are added, in the same transaction, with the
calls inserted (e.g. keeping the statistics' rollups)."""


async def write_batch(
    sessions: async_sessionmaker[AsyncSession],
    batch: Sequence[CallSummary],
    hooks: Sequence[WriteHook] = (),
    wrapup_of: WrapupOf | None = None,
    batch_hooks: Sequence[BatchHook] = (),
) -> int:
    """Insert calls not yet stored; a retried batch never duplicates a call.

    Returns how many were inserted (``cti replay --store`` run twice inserts none).
    """
    async with sessions() as session, session.begin():
        ids = [s.linkedid for s in batch]
        existing = set(
            (
                await session.execute(
                    select(CallRecord.linkedid).where(CallRecord.linkedid.in_(ids))
                )
            ).scalars()
        )
        seen: set[str] = set()
        inserted: list[CallSummary] = []
        for summary in batch:
            if summary.linkedid in existing or summary.linkedid in seen:
                continue
            seen.add(summary.linkedid)
            inserted.append(summary)
            session.add(to_record(summary, wrapup_of))
            for hook in hooks:
                await hook(session, summary)
        if inserted:
            await session.flush()
            for batch_hook in batch_hooks:
                await batch_hook(session, inserted)
        return len(inserted)


class CallRecordWriter(BatchWriter[CallSummary]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        batch_size: int = 200,
        retry_min: float = 0.2,
        retry_max: float = 10.0,
        hooks: Sequence[WriteHook] = (),
        wrapup_of: WrapupOf | None = None,
    ) -> None:
        super().__init__(
            name="call-record-writer",
            what="call records",
            log=log,
            batch_size=batch_size,
            retry_min=retry_min,
            retry_max=retry_max,
        )
        self._sessions = sessions
        self._wrapup_of = wrapup_of
        self._hooks = tuple(hooks)
        self._batch_hooks: tuple[BatchHook, ...] = ()

    def add_batch_hook(self, hook: BatchHook) -> None:
        """Run ``hook`` once per batch written, in its transaction, with the calls inserted."""
        self._batch_hooks = (*self._batch_hooks, hook)

    def add_hook(self, hook: WriteHook) -> None:
        """Run ``hook`` for every call inserted, in the insert's transaction."""
        self._hooks = (*self._hooks, hook)

    def pending_call(self, linkedid: str) -> CallSummary | None:
        """A finished call not written yet (None if written or unknown)."""
        return next((s for s in reversed(self._pending) if s.linkedid == linkedid), None)

    def unwritten(self) -> tuple[CallSummary, ...]:
        """Every finished call not written yet, oldest first."""
        return tuple(self._pending)

    def submit(self, summary: CallSummary) -> None:
        self._add(summary)

    async def _write(self, batch: Sequence[CallSummary]) -> None:
        await write_batch(self._sessions, batch, self._hooks, self._wrapup_of, self._batch_hooks)
