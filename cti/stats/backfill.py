"""``cti replay TRACE --store``: a recorded trace's finished calls become call records.

The trace goes through the same decoder and trackers as live traffic (the call
tracker for the calls, the agent state tracker for the agents' state history), and
the results through the same writers' code (:func:`cti.calls.writer.write_batch`,
:func:`cti.stats.writer.write_states`), so backfilled history is counted exactly as
live history. Storing a trace twice changes nothing: a call already stored (same
Linkedid) and a state row already stored (same agent, time, state, reason) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.agents.state import AgentStateTracker
from cti.ami.codec import AmiDecodeError, AmiDecoder
from cti.calls.writer import write_batch
from cti.stats.definitions import Rules
from cti.stats.rollups import calls_hook, ensure_built
from cti.stats.writer import state_row, write_states
from cti.tracking.events import CallSummary, DomainEventType
from cti.tracking.tracker import CallTracker

__all__ = ["TraceContents", "read_trace", "store_trace"]

BATCH = 200


@dataclass
class TraceContents:
    calls: list[CallSummary] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    agents: AgentStateTracker = field(default_factory=AgentStateTracker)
    error: str | None = None
    """Why reading stopped early (a damaged or truncated trace), with the byte offset."""


def read_trace(path: Path, default_wrapup_s: float = 0.0, chunk_size: int = 65536) -> TraceContents:
    """Every finished call and agent state change of a trace (up to any damage in it)."""
    out = TraceContents(agents=AgentStateTracker(default_wrapup_s=default_wrapup_s))
    decoder = AmiDecoder()
    tracker = CallTracker()

    def feed(messages: list[Any]) -> None:
        for msg in messages:
            for event in tracker.feed(msg):
                if event.type is DomainEventType.ENDED:
                    out.calls.append(event.data["summary"])
            for change in out.agents.feed(msg):
                out.states.append(state_row(change, out.agents.last_timestamp))

    with path.open("rb") as stream:
        try:
            while chunk := stream.read(chunk_size):
                feed(decoder.feed(chunk))
            decoder.finish()
        except AmiDecodeError as exc:
            feed(exc.messages)
            out.error = str(exc)
    return out


async def store_trace(
    sessions: async_sessionmaker[AsyncSession], contents: TraceContents, rules: Rules | None = None
) -> int:
    """Write the trace's calls and agent states; returns how many calls were new.

    Wrap-up seconds are the agents' as the trace last reported them (their Wrapuptime).
    The statistics' rollups are kept as the service keeps them (``rules``: the
    thresholds in force; built first if they were not): the writes mark what they touch,
    for the service's next flush or the next statistics read (:mod:`cti.stats.rollups`).
    """
    rules = Rules() if rules is None else rules
    await ensure_built(sessions, rules)
    written = 0
    for i in range(0, len(contents.calls), BATCH):
        batch = contents.calls[i : i + BATCH]
        written += await write_batch(
            sessions,
            batch,
            wrapup_of=contents.agents.wrapup_of,
            batch_hooks=[calls_hook()],
        )
    for i in range(0, len(contents.states), BATCH):
        async with sessions() as session, session.begin():
            await write_states(session, contents.states[i : i + BATCH])
    return written
