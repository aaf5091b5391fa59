"""A queue's statistics for a period: the one function behind the API, its CSV and ``cti stats``.

:func:`queue_stats` checks the request, asks the database for the sums
(:mod:`cti.stats.queries`) and returns the JSON body; ``GET
/api/v1/queues/{name}/stats`` returns it as is, ``&format=csv`` renders it with
:func:`stats_csv`, and ``cti stats --json`` prints it, so the three always agree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cti.errors import InvalidInput
from cti.stats import rolled, rollups
from cti.stats.config import StatsSettings
from cti.stats.definitions import (
    AgentCallSums,
    AgentTime,
    Interval,
    Sums,
    agent_figures,
    bucket_start,
    buckets,
    figures,
)
from cti.stats.queries import (
    agent_call_sums,
    agent_state_time,
    interval_sums,
    plan_for_the_values,
    queue_members,
)

__all__ = ["StatsRequest", "queue_stats", "stats_csv"]


@dataclass(frozen=True, slots=True)
class StatsRequest:
    queue: str
    start: datetime
    end: datetime
    interval: Interval = Interval.HOUR


def _check(request: StatsRequest, settings: StatsSettings, tz: ZoneInfo) -> list[int]:
    if request.start.tzinfo is None or request.end.tzinfo is None:
        raise InvalidInput("from and to need a time zone, e.g. 2026-12-01T00:00:00+08:00")
    if request.end <= request.start:
        raise InvalidInput("to must be after from", details=[{"field": "to"}])
    if request.end - request.start > timedelta(days=settings.max_days):
        raise InvalidInput(
            f"the period is longer than {settings.max_days} days; ask for less",
            details=[{"field": "to"}],
        )
    keys = buckets(request.start, request.end, request.interval, tz)
    if len(keys) > settings.max_intervals:
        raise InvalidInput(
            f"{len(keys)} intervals of {request.interval.value}; at most "
            f"{settings.max_intervals}: choose a longer interval or a shorter period",
            details=[{"field": "interval"}],
        )
    return keys


async def queue_stats(
    session: AsyncSession,
    request: StatsRequest,
    *,
    settings: StatsSettings,
    timezone: str,
    now: datetime,
    from_rollups: bool = True,
) -> dict[str, Any]:
    """The statistics body of ``request`` (raises :class:`InvalidInput` for a bad one).

    ``now`` ends the agents' current states (a period reaching into the future counts
    their time up to now only). ``from_rollups=False`` sums the raw rows only (the
    reference the rollups are checked against; thousands of times slower for a month).
    """
    tz = ZoneInfo(timezone)
    keys = _check(request, settings, tz)
    start, end = request.start.astimezone(UTC), request.end.astimezone(UTC)
    rules = settings.rules(timezone)
    if from_rollups:  # what was written before this read is in the sums it reads
        await rollups.flush_pending(session, rules)
    await plan_for_the_values(session)
    # The rollups when they hold every call summed with these thresholds, else raw rows.
    built = from_rollups and await rollups.usable(session, rules)
    sums = await (rolled.period_sums if built else interval_sums)(
        session,
        queue=request.queue,
        start=start,
        end=end,
        interval=request.interval,
        tz=tz,
        rules=rules,
    )
    total = Sums()
    intervals: list[dict[str, Any]] = []
    # Each bucket ends where the next starts: the edges, in local time, once each.
    edges = [bucket_start(key, request.interval, tz) for key in (*keys, keys[-1] + 1)]
    edges[0], edges[-1] = max(edges[0], start), min(edges[-1], end)
    local = [edge.astimezone(tz).isoformat() for edge in edges]
    for i, key in enumerate(keys):
        part = sums.get(key)
        if part is None:
            part = Sums()
        else:
            total.add(part)
        intervals.append({"start": local[i], "end": local[i + 1], **figures(part).to_json_dict()})
    if built:
        calls = await rolled.agent_call_totals(
            session, queue=request.queue, start=start, end=end, days=tz
        )
    else:
        calls = await agent_call_sums(session, queue=request.queue, start=start, end=end)
    # The queue's agents: those with calls, and those its events moved.
    members = (rolled.queue_agents if built else queue_members)(
        session, queue=request.queue, end=end
    )
    names = set(calls) | set(await members)
    until = max(start, min(end, now.astimezone(UTC)))
    if from_rollups:
        # Agents' time is rolled up to each agent's mark, built or not; the business days
        # only when built in this zone (cti.stats.rollups).
        times = await rolled.agent_state_totals(
            session, names=sorted(names), start=start, until=until, days=tz if built else None
        )
    else:
        times = await agent_state_time(session, names=sorted(names), start=start, until=until)
    agents = [
        agent_figures(
            name, calls.get(name, AgentCallSums()), times.get(name, AgentTime())
        ).to_json_dict()
        for name in sorted(names)
    ]
    return {
        "queue": request.queue,
        "from": start.astimezone(tz).isoformat(),
        "to": end.astimezone(tz).isoformat(),
        "interval": request.interval.value,
        "timezone": timezone,
        "sl_threshold_s": rules.sl_threshold_s,
        "short_abandon_s": rules.short_abandon_s,
        "total": figures(total).to_json_dict(),
        "intervals": intervals,
        "agents": agents,
    }


INTERVAL_COLUMNS = (
    "row", "start", "end", "offered", "answered", "abandoned", "short_abandons", "timeouts",
    "voicemails", "transfers", "answer_rate", "service_level_of_answered",
    "service_level_of_offered", "asa_s", "aht_s", "longest_wait_s", "csat",
)  # fmt: skip
AGENT_COLUMNS = (
    "agent", "calls", "talk_s", "wrapup_s", "ring_no_answer", "logged_in_s", "paused_s",
    "pause_by_reason", "occupancy", "csat",
)  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        # One cell: "lunch=600.0;training=120.0" (reasons are [a-z0-9_] or plain labels).
        return ";".join(f"{k or '-'}={v}" for k, v in value.items())
    return str(value)


def stats_csv(body: dict[str, Any], part: str = "intervals") -> str:
    """The body as CSV: one row per interval (``row`` = ``interval``) then the ``total``
    row, or one row per agent.

    UTF-8 with a header row; empty cells are figures without a value (no calls).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if part == "agents":
        writer.writerow(AGENT_COLUMNS)
        for agent in body["agents"]:
            writer.writerow([_cell(agent[c]) for c in AGENT_COLUMNS])
        return out.getvalue()
    writer.writerow(INTERVAL_COLUMNS)
    for row in body["intervals"]:
        writer.writerow([_cell({"row": "interval", **row}[c]) for c in INTERVAL_COLUMNS])
    total = {"row": "total", "start": body["from"], "end": body["to"], **body["total"]}
    writer.writerow([_cell(total[c]) for c in INTERVAL_COLUMNS])
    return out.getvalue()
