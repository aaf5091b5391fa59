"""Queue statistics benchmark: a month at 1 h intervals over 1M call records in PostgreSQL.

Creates a throwaway database next to the one in ``CTI_BENCH_POSTGRES_URL`` (default:
``CTI_TEST_POSTGRES_URL`` of ``devstack env``, else the devstack's address), builds its
schema with the project's migrations and loads by ``COPY`` one busy month (November
2026, Asia/Shanghai, with 11.11 and its after-sales wave) of a centre with five queues
(``--months 12``: the same calls spread over the year up to that month):

* ``--calls`` call records (default 1M): answered (some by the preferred agent outside
  the queue, some transferred), abandoned (short and long), queue timeouts (some on to
  voicemail), closed-hours voicemail, IVR hang-ups and outbound calls; each with its
  timeline in ``call_events`` (rings the agents let go unanswered included);
* the agents' state history (``agent_states``): shifts, breaks and lunch, every ring,
  talk and wrap-up, from a simulation of each queue's agents taking calls in time order,
  so occupancy and pause figures are those of a real floor;
* the callers' ratings (``csat_ratings``) where the survey is on.

It then times, for the busiest queue over the whole month at ``interval=1h`` (720
buckets), in the same process and on the same connection pool:

* baseline: ``SELECT date_trunc('hour', ...), count(*) ... GROUP BY 1`` over the
  queue's offered calls of the month (the least work any implementation must do);
* ours: :func:`cti.stats.service.queue_stats`, the function behind ``GET
  /api/v1/queues/{name}/stats``, end to end (every query, every figure);
* the HTTP route itself through httpx's ASGI transport (token check, JSON);
* each read of :mod:`cti.stats.rolled` alone, to show where the time goes;
* before: the same function on the raw rows only (``from_rollups=False``), which must
  give the same body (checked).

The data is loaded by COPY, past the service: the rollups are built first, as the
service's first start after migration 0016 builds them, and that time is reported.

Prints median and p95 and the ratio ours/baseline (aim: ours <= 50 ms), writes
benchmarks/results/stats.json (stats-<N>months.json for more months) and the section of
benchmarks/RESULTS.md (from the one-month and the 12-month JSON; ``--write-up`` only
rewrites it), and drops the database (``--keep`` keeps it). 4-7 minutes for 1M calls
on a shared 2-core VM, most of it the load.

    python benchmarks/stats.py [--calls 1000000] [--months 1] [--reps 15] [--keep]
    python benchmarks/stats.py --quick       # 20k calls, a few repetitions: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
import httpx  # noqa: E402
import provenance  # noqa: E402
from routing import (  # noqa: E402
    DEFAULT_URL,
    create_database,
    drop_database,
    pct,
    pg_dsn,
    reset_sequences,
    write_result,
)
from sqlalchemy import text  # noqa: E402

from cti.api import create_http_app  # noqa: E402
from cti.auth.tokens import create_token  # noqa: E402
from cti.clock import FixedClock  # noqa: E402
from cti.container import Container  # noqa: E402
from cti.db.engine import create_engine, session_factory  # noqa: E402
from cti.db.migrate import upgrade_async  # noqa: E402
from cti.settings import Settings  # noqa: E402
from cti.stats import queries, rolled, rollups  # noqa: E402
from cti.stats.config import StatsSettings  # noqa: E402
from cti.stats.definitions import Interval  # noqa: E402
from cti.stats.service import StatsRequest, queue_stats  # noqa: E402

NAME = "stats"
BEFORE_ROLLUPS = "6d1580f"
"""The commit whose ``results/stats*.json`` are the last runs before the rollups."""
TZ_NAME = "Asia/Shanghai"  # no DST: hour h of a span starts h hours after its first instant
MONTH = datetime(2026, 11, 1, tzinfo=ZoneInfo(TZ_NAME))  # the month measured
DAYS = 30
HOURS = DAYS * 24
AIM_MS = 50.0
DNIS = "4008001234"

# Share of a day's calls per local hour: a 24 h hotline, busy 9-17 and after dinner.
HOUR_CURVE = (
    0.05, 0.03, 0.02, 0.02, 0.02, 0.04, 0.10, 0.35, 0.80, 1.20, 1.30, 1.20,
    0.90, 1.00, 1.20, 1.25, 1.20, 1.00, 0.80, 0.90, 1.00, 0.90, 0.50, 0.20,
)  # fmt: skip
# Shifts (start hour, hours): the day's, and a late and a night one where a queue never closes.
DAY_SHIFTS = ((8, 9), (10, 9), (13, 9))
ALL_DAY_SHIFTS = (*DAY_SHIFTS, (15, 9), (23, 9))


@dataclass(frozen=True, slots=True)
class Profile:
    """One queue of the centre: its share of the calls and how they go."""

    name: str
    share: float
    talk_s: float
    wrapup_s: float
    timeout_s: float
    transfer_rate: float
    patience_s: float
    csat: bool
    preferred: float = 0.0
    """Share of its answered calls the dialplan connects to the caller's preferred agent."""
    all_day: bool = False
    """Open round the clock; otherwise 08:00-22:00 (callers reach voicemail at night)."""


QUEUES = (
    Profile("hotline", 0.42, 210, 10, 180, 0.04, 45, True, preferred=0.06, all_day=True),
    Profile("aftersales", 0.26, 300, 20, 240, 0.08, 60, True),
    Profile("logistics", 0.16, 150, 10, 180, 0.03, 40, False),
    Profile("presales", 0.11, 180, 10, 120, 0.02, 35, False),
    Profile("vip", 0.05, 260, 30, 300, 0.05, 90, True),
)


@dataclass(frozen=True, slots=True)
class Span:
    """The days simulated: ``months`` times 30 days, ending with the month measured."""

    months: int = 1

    @property
    def days(self) -> int:
        return self.months * DAYS

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def t0(self) -> float:
        return (MONTH - timedelta(days=self.days - DAYS)).timestamp()

    def in_month(self, day: int) -> int:
        """Day ``day`` of the span as a day of the month measured (negative: before it)."""
        return day - (self.days - DAYS)

    def day_weight(self, day: int, queue: str) -> float:
        weight = 0.85 if (MONTH + timedelta(days=self.in_month(day))).weekday() >= 5 else 1.0
        weight *= {9: 1.5, 10: 2.4, 11: 1.7}.get(self.in_month(day), 1.0)  # 11.10-11.12
        if queue in ("aftersales", "logistics") and 12 <= self.in_month(day) <= 18:
            weight *= 1.35  # returns and parcels after 11.11
        return weight


@dataclass(slots=True)
class Call:
    queue: str | None
    started: float
    ended: float
    outcome: str
    offered: float | None = None
    answered: float | None = None
    wait: float | None = None
    talk: float | None = None
    wrapup: float | None = None
    agent: int | None = None
    transfers: int = 0
    voicemail: bool = False
    direct: bool = False
    outbound: bool = False
    rna: list[tuple[int, float]] = field(default_factory=list)
    """Rings agents let go unanswered while this call waited: (extension, at)."""


StateRow = tuple[str, str, str, str, datetime, str, str]


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Floor:
    """One queue's agents through the month: shifts, pauses, rings, talk, wrap-up.

    Agents take calls in time order (a heap of the moment each is free again) while the
    hour's arrivals last; whatever the staff cannot take in an hour is left to abandon
    or time out. Every state change becomes an ``agent_states`` row.
    """

    def __init__(
        self, p: Profile, target: int, first_ext: int, rng: random.Random, span: Span
    ) -> None:
        self.p, self.rng = p, rng
        self.t0, self.hours = span.t0, span.hours
        weights = [span.day_weight(h // 24, p.name) * HOUR_CURVE[h % 24] for h in range(span.hours)]
        scale = target / sum(weights)
        self.expected = [w * scale for w in weights]
        self.handle_s = 5 + p.talk_s + p.wrapup_s
        day_need = [HOUR_CURVE[h] * scale * self.handle_s / 3600 / 0.85 for h in range(24)]
        shifts = ALL_DAY_SHIFTS if p.all_day else DAY_SHIFTS
        counts = [0] * len(shifts)
        for h in range(8, 32 if p.all_day else 22):  # from 08:00, round to 08:00 next day
            cover = [i for i, (s, n) in enumerate(shifts) if (h - s) % 24 < n]
            short = day_need[h % 24] - sum(counts[i] for i in cover)
            if short > 0:
                counts[cover[-1]] += math.ceil(short)
        # Two days off a week, breaks and lunch: more people than seats.
        templates = [shifts[i] for i, c in enumerate(counts) for _ in range(math.ceil(c * 1.6))]
        self.exts = list(range(first_ext, first_ext + len(templates)))
        self.shifts: list[tuple[float, float, int]] = []  # (start, end, agent index)
        staff = [0.0] * (span.hours + 12)
        for d in range(span.days):
            for a, (start_h, length) in enumerate(templates):
                # All hands on 11.10-11.12; otherwise two days off a week.
                if span.in_month(d) not in (9, 10, 11) and (d + a) % 7 in (a % 3, a % 3 + 3):
                    continue
                start = self.t0 + (d * 24 + start_h) * 3600 + rng.uniform(-300, 300)
                self.shifts.append((start, start + length * 3600 + rng.uniform(-300, 600), a))
                for h in range(d * 24 + start_h, d * 24 + start_h + length):
                    staff[h] += 0.85
        self.budget = [
            int(e * 0.96 + rng.random()) if staff[h] else 0 for h, e in enumerate(self.expected)
        ]
        self.idle = [
            max(2.0, 0.7 * staff[h] * 3600 / b - self.handle_s) if b else 3600.0
            for h, b in enumerate(self.budget)
        ]
        self.mean_wait = [
            3 + 25 * min(1.0, b * self.handle_s / (staff[h] * 3600)) ** 8 if b else 0.0
            for h, b in enumerate(self.budget)
        ]
        self.closed = [staff[h] == 0 for h in range(span.hours)]
        self.answered_in = [0] * span.hours
        self.calls: list[Call] = []
        self.rna: list[tuple[int, float]] = []
        self.states: list[StateRow] = []
        self._state = ["logged_out"] * len(self.exts)

    def _set(self, a: int, state: str, at: float, reason: str = "") -> None:
        ext = self.exts[a]
        self.states.append(
            (f"PJSIP/{ext}", str(ext), state, self._state[a], utc(at), reason, self.p.name)
        )
        self._state[a] = state

    def run(self) -> None:
        rng, p = self.rng, self.p
        heap: list[tuple[float, int, int]] = []
        pauses: list[list[tuple[float, float, str]]] = []
        for i, (start, end, a) in enumerate(self.shifts):
            # Staggered, as a supervisor plans them: never the whole floor at lunch.
            plan = [(start + rng.uniform(1.5, 2.5) * 3600, 900, "break")]
            plan.append((start + rng.uniform(3.0, 5.0) * 3600, 3600, "lunch"))
            plan.append((start + rng.uniform(6.0, 7.5) * 3600, 900, "break"))
            if rng.random() < 0.05:
                plan.append((start + 3600, 1800, "training"))
            if rng.random() < 0.03:
                plan.append((start + rng.uniform(5.0, 6.0) * 3600, 1800, "meeting"))
            pauses.append(sorted(q for q in plan if q[0] < end))
            heapq.heappush(heap, (start, i, a))
        mu = math.log(p.talk_s) - 0.18  # lognormal talk with sigma 0.6: mean talk_s
        while heap:
            t, i, a = heapq.heappop(heap)
            end, plan = self.shifts[i][1], pauses[i]
            if self._state[a] == "logged_out":
                self._set(a, "available", t)
            if t >= end:
                self._set(a, "logged_out", t)
                continue
            if plan and plan[0][0] <= t:
                _, length, reason = plan.pop(0)
                self._set(a, "paused", t, reason)
                self._set(a, "available", t + length)
                heapq.heappush(heap, (t + length + 0.001, i, a))
                continue
            h = int((t - self.t0) // 3600)
            if h >= self.hours or self.budget[h] <= 0:
                heapq.heappush(heap, (min(self.t0 + (h + 1) * 3600 + 0.5, end), i, a))
                continue
            t1 = t + rng.expovariate(1 / self.idle[h])
            if t1 >= end or (plan and t1 >= plan[0][0]):
                heapq.heappush(heap, (min(end, plan[0][0] if plan else end), i, a))
                continue
            h = int((t1 - self.t0) // 3600)
            if h >= self.hours or self.budget[h] <= 0:
                heapq.heappush(heap, (t1, i, a))
                continue
            if rng.random() < 0.03:  # rang 15 s, not answered (app_queue's RINGNOANSWER)
                self._set(a, "ringing", t1)
                self._set(a, "available", t1 + 15)
                self.rna.append((self.exts[a], t1))
                heapq.heappush(heap, (t1 + 15.001, i, a))
                continue
            self.budget[h] -= 1
            self.answered_in[h] += 1
            ring = rng.uniform(2, 8)
            answered = t1 + ring
            talk = max(8.0, rng.lognormvariate(mu, 0.6))
            direct = rng.random() < p.preferred
            wrapup = 0.0 if direct else p.wrapup_s
            queued = 0.0 if direct else min(rng.expovariate(1 / self.mean_wait[h]), p.timeout_s)
            offered = t1 - queued
            self._set(a, "ringing", t1)
            self._set(a, "on_call", answered)
            if wrapup:
                self._set(a, "wrap_up", answered + talk)
            self._set(a, "available", answered + talk + wrapup)
            self.calls.append(
                Call(
                    p.name,
                    offered - rng.uniform(8, 35),
                    answered + talk,
                    "answered",
                    offered=offered,
                    answered=answered,
                    wait=answered - offered,
                    talk=talk,
                    wrapup=None if direct else wrapup,
                    agent=self.exts[a],
                    transfers=int(rng.random() < p.transfer_rate),
                    direct=direct,
                )
            )
            heapq.heappush(heap, (answered + talk + wrapup, i, a))

    def unanswered(self, count: int) -> None:
        """``count`` calls the floor did not take, where arrivals outran the answers."""
        rng, p = self.rng, self.p
        weights = [
            max(e - self.answered_in[h], 0.0) + 0.04 * e for h, e in enumerate(self.expected)
        ]
        for h in rng.choices(range(self.hours), weights=weights, k=count):
            at = self.t0 + (h + rng.random()) * 3600
            if self.closed[h]:  # closed: straight to voicemail, never offered
                self.calls.append(
                    Call(p.name, at, at + rng.uniform(20, 60), "not_queued", voicemail=True)
                )
                continue
            started = at - rng.uniform(8, 35)
            if rng.random() < 0.18:
                wait = p.timeout_s + rng.random()
                vm = rng.random() < 0.5
                ended = at + wait + (rng.uniform(15, 60) if vm else 0.0)
                self.calls.append(
                    Call(p.name, started, ended, "timeout", offered=at, wait=wait, voicemail=vm)
                )
                continue
            if rng.random() < 0.3:
                wait = rng.uniform(0.5, 5.0)
            else:
                wait = min(5 + rng.expovariate(1 / p.patience_s), p.timeout_s - 1)
            self.calls.append(Call(p.name, started, at + wait, "abandoned", offered=at, wait=wait))

    def attach_rings(self) -> None:
        """Each unanswered ring belongs to the call of the queue offered just before it."""
        offered = sorted((c for c in self.calls if c.offered is not None), key=lambda c: c.offered)
        times = [c.offered for c in offered]
        for ext, at in self.rna:
            i = bisect.bisect_right(times, at) - 1
            if i >= 0:
                offered[i].rna.append((ext, at))


def other_calls(count: int, agents: list[int], rng: random.Random, span: Span) -> list[Call]:
    """Not queue traffic: outbound callbacks and confirmations, IVR hang-ups."""
    weights = [HOUR_CURVE[h % 24] for h in range(span.hours)]
    out = []
    for h in rng.choices(range(span.hours), weights=weights, k=count):
        at = span.t0 + (h + rng.random()) * 3600
        if rng.random() < 0.6:
            talk = rng.uniform(20, 200)
            out.append(
                Call(None, at, at + 10 + talk, "answered", talk=talk, agent=rng.choice(agents))
            )
            out[-1].outbound = True
        else:
            out.append(Call(None, at, at + rng.uniform(5, 40), "not_queued"))
    return out


def call_rows(calls: list[Call], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for i, c in enumerate(calls, 1):
        yield (
            i,
            f"{int(c.started)}.{i}",
            f"+861{rng.randrange(3 * 10**9, 9 * 10**9)}",
            None,
            None if c.outbound else DNIS,
            c.queue,
            None if c.agent is None else f"PJSIP/{c.agent}",
            c.outcome,
            utc(c.started),
            utc(c.ended),
            c.wait,
            c.talk,
            16,
            "outbound" if c.outbound else "inbound",
            f"SO{rng.randrange(10**10):010d}" if rng.random() < 0.2 else None,
            None if c.offered is None else utc(c.offered),
            None if c.answered is None else utc(c.answered),
            c.wrapup,
            c.transfers,
            c.voicemail,
        )


STATE_COLUMNS = ["interface", "member_name", "state", "previous", "at", "paused_reason", "queue"]
CALL_COLUMNS = [
    "id", "linkedid", "caller_number", "caller_name", "dnis", "queue", "agent", "outcome",
    "started_at", "ended_at", "wait_s", "talk_s", "hangup_cause", "direction", "order_id",
    "offered_at", "answered_at", "wrapup_s", "transfers", "voicemail",
]  # fmt: skip


def timeline(c: Call, linkedid: str) -> list[tuple[float, str, dict[str, Any]]]:
    """The call's domain events as the tracker stores them (see tests/fixtures/traces)."""
    caller = f"PJSIP/callers-{linkedid}"
    ev: list[tuple[float, str, dict[str, Any]]] = [(c.started, "call_started", {"dnis": DNIS})]
    if c.queue is not None:
        route = {"action": "queue", "queue": c.queue, "priority": 0, "reason": "default"}
        ev.append((c.started + 0.3, "routed", route))
    if c.answered is not None and c.queue is not None:
        day = utc(c.started).strftime("%Y%m%d")
        record = {"channel": caller, "file": f"/var/spool/asterisk/monitor/cti/{day}/{linkedid}"}
        ev.append((c.started + 0.5, "recording_started", record))
    if c.offered is not None and not c.direct:
        ev.append((c.offered, "queued", {"queue": c.queue, "position": 1, "channel": caller}))
    for ext, at in c.rna:
        who = {"queue": c.queue, "interface": f"PJSIP/{ext}", "member_name": str(ext)}
        ev.append((at, "agent_ringing", who))
        ev.append((at + 15, "agent_ring_no_answer", {**who, "ring_s": 15.0}))
    if c.answered is not None and c.offered is not None:
        agent = {"queue": c.queue, "interface": f"PJSIP/{c.agent}", "member_name": str(c.agent)}
        ring_at = c.offered if c.direct else max(c.offered, c.answered - 4)
        ev.append((ring_at, "agent_ringing", {**agent, "direct": True} if c.direct else agent))
        answer = {"queue": c.queue, "agent": f"PJSIP/{c.agent}", "wait_s": c.wait}
        ev.append((c.answered, "answered", {**answer, "direct": True} if c.direct else answer))
        if c.transfers:
            transfer = {"kind": "blind", "result": "Success", "exten": "1002"}
            ev.append((c.answered + (c.talk or 0) * 0.7, "transferred", transfer))
    elif c.outcome in ("abandoned", "timeout") and c.offered is not None:
        kind = "abandoned" if c.outcome == "abandoned" else "queue_timeout"
        ev.append((c.offered + (c.wait or 0), kind, {"queue": c.queue, "wait_s": c.wait}))
    ev.append((c.ended, "ended", {"outcome": c.outcome}))
    ev.sort(key=lambda e: e[0])
    return ev


def event_rows(calls: list[Call]) -> Iterator[tuple[Any, ...]]:
    for i, c in enumerate(calls, 1):
        for seq, (at, kind, data) in enumerate(timeline(c, f"{int(c.started)}.{i}")):
            yield (i, seq, kind, utc(at), json.dumps(data))


def csat_rows(calls: list[Call], rated: set[str], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for i, c in enumerate(calls, 1):
        if c.queue in rated and c.answered is not None and rng.random() < 0.3:
            linkedid = f"{int(c.started)}.{i}"
            rating = rng.choices((5, 4, 3, 2, 1), weights=(55, 25, 10, 4, 6))[0]
            yield (linkedid, rating, f"PJSIP/{c.agent}", c.queue, utc(c.ended + 12), linkedid)


async def seed(url: str, total: int, rng: random.Random, span: Span) -> dict[str, Any]:
    """Simulate the month and COPY it in; returns what was loaded and how long it took."""
    started = time.perf_counter()
    queue_calls = total - total // 20  # 5 %: outbound and IVR hang-ups
    calls: list[Call] = []
    agents: list[int] = []
    states = 0
    answered = 0
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        for p in QUEUES:
            target = round(queue_calls * p.share)
            floor = Floor(p, target, 1001 + len(agents), rng, span)
            floor.run()
            answered += len(floor.calls)
            floor.unanswered(max(0, target - len(floor.calls)))
            floor.attach_rings()
            calls.extend(floor.calls)
            agents.extend(floor.exts)
            await conn.copy_records_to_table(
                "agent_states",
                records=floor.states,
                columns=STATE_COLUMNS,
            )
            states += len(floor.states)
        calls.extend(other_calls(total - len(calls), agents, rng, span))
        calls.sort(key=lambda c: c.started)
        simulated = time.perf_counter() - started
        await conn.copy_records_to_table(
            "calls", records=call_rows(calls, rng), columns=CALL_COLUMNS
        )
        loaded_calls = time.perf_counter() - started
        await conn.copy_records_to_table(
            "call_events",
            records=event_rows(calls),
            columns=["call_id", "seq", "type", "at", "data"],
        )
        await conn.copy_records_to_table(
            "csat_ratings",
            records=csat_rows(calls, {p.name for p in QUEUES if p.csat}, rng),
            columns=["linkedid", "rating", "agent", "queue", "rated_at", "uniqueid"],
        )
        await reset_sequences(conn, ("calls", "call_events"))
        loaded = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("calls", "call_events", "agent_states", "csat_ratings")
        }
    finally:
        await conn.close()
    return {
        "rows": counts,
        "agents": len(agents),
        "answered_by_agents": answered,
        "simulate_and_states_s": round(simulated, 1),
        "copy_calls_s": round(loaded_calls - simulated, 1),
        "copy_events_csat_s": round(loaded - loaded_calls, 1),
        "vacuum_analyze_s": round(time.perf_counter() - started - loaded, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }


FIGURES = (
    "offered", "answered", "abandoned", "short_abandons", "timeouts", "voicemails",
    "transfers", "answer_rate", "service_level_of_offered", "asa_s", "aht_s",
    "longest_wait_s", "csat",
)  # fmt: skip
BASELINE = text(
    "SELECT date_trunc('hour', offered_at AT TIME ZONE :tz) AS hour, count(*) "
    "FROM calls WHERE queue = :queue AND offered_at >= :start AND offered_at < :end "
    "GROUP BY 1"
)


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(pct(ms, 0.95), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }


async def repeat(
    paths: dict[str, Callable[[], Awaitable[Any]]], reps: int, budget_s: float
) -> dict[str, list[float]]:
    """Each path ``reps`` times, interleaved so the machine's noise hits all alike; stops
    early (after 5 rounds, or all if fewer) once ``budget_s`` is spent."""
    out: dict[str, list[float]] = {name: [] for name in paths}
    started = time.perf_counter()
    for r in range(reps):
        for name, call in paths.items():
            t = time.perf_counter()
            await call()
            out[name].append(time.perf_counter() - t)
        if r >= min(reps, 5) - 1 and time.perf_counter() - started > budget_s:
            break
    return out


async def measure(url: str, queue: str, reps: int, budget_s: float) -> dict[str, Any]:
    start, end = MONTH, MONTH + timedelta(days=DAYS)
    now = end + timedelta(days=5)  # after the month: the agents' time counts to its end
    stats_settings = StatsSettings()
    request = StatsRequest(queue=queue, start=start, end=end, interval=Interval.HOUR)
    engine = create_engine(url)
    sessions = session_factory(engine)
    params = {"tz": TZ_NAME, "queue": queue, "start": start, "end": end}
    u_start, u_end = start.astimezone(UTC), end.astimezone(UTC)
    tz = ZoneInfo(TZ_NAME)

    async def baseline() -> list[Any]:
        async with sessions() as s:
            return list((await s.execute(BASELINE, params)).all())

    async def ours() -> dict[str, Any]:
        async with sessions() as s:
            return await queue_stats(s, request, settings=stats_settings, timezone=TZ_NAME, now=now)

    def part(fn: Callable[..., Awaitable[Any]], **kw: Any) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with sessions() as s:
                await queries.plan_for_the_values(s)  # as queue_stats() does
                return await fn(s, **kw)

        return run

    async def raw() -> dict[str, Any]:
        async with sessions() as s:
            return await queue_stats(
                s, request, settings=stats_settings, timezone=TZ_NAME, now=now, from_rollups=False
            )

    period = {"queue": queue, "start": u_start, "end": u_end}
    calls = await part(rolled.agent_call_totals, **period, days=tz)()
    members = await part(rolled.queue_agents, queue=queue, end=u_end)()
    names = sorted(set(calls) | set(members))
    parts = {
        "period_sums": part(
            rolled.period_sums,
            **period,
            interval=Interval.HOUR,
            tz=tz,
            rules=stats_settings.rules(TZ_NAME),
        ),
        "agent_call_totals": part(rolled.agent_call_totals, **period, days=tz),
        "queue_agents": part(rolled.queue_agents, queue=queue, end=u_end),
        "agent_state_totals": part(
            rolled.agent_state_totals, names=names, start=u_start, until=u_end, days=tz
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=url, ami_enabled=False, agi_enabled=False
        )
        container = Container(settings, clock=FixedClock(now), stats_settings=stats_settings)
        async with container.sessions() as s, s.begin():
            token = (await create_token(s, "bench", ["stats:read"], now=now)).token
        app = create_http_app(container.http_services())
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
        )
        query = {"from": start.isoformat(), "to": end.isoformat(), "interval": "1h"}

        async def http() -> dict[str, Any]:
            response = await client.get(f"/api/v1/queues/{queue}/stats", params=query)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

        try:
            body = await ours()
            counted = sum(n for _, n in await baseline())
            via_http = await http()
            # The benchmark measures the real thing: same calls, same answer both ways.
            assert counted == body["total"]["offered"], (counted, body["total"])
            assert via_http["total"] == body["total"] and len(body["intervals"]) == HOURS
            # The rollups give what the raw rows give (timed too: the route before them).
            t = time.perf_counter()
            from_rows = await raw()
            raw_first_s = time.perf_counter() - t
            same_figures(body, from_rows)
            for warm in (baseline, ours, http) * 2:  # caches and pools
                await warm()
            main = await repeat({"baseline": baseline, "ours": ours, "http": http}, reps, budget_s)
            split = await repeat(parts, max(1, reps // 3), budget_s / 2)
            raw_runs = (await repeat({"raw": raw}, 3, 0))["raw"]
        finally:
            await client.aclose()
            await container.engine.dispose()
            await engine.dispose()
    b, o, h = (summary(main[k]) for k in ("baseline", "ours", "http"))
    total = body["total"]
    return {
        "queue": queue,
        "period": {"from": body["from"], "to": body["to"], "interval": "1h", "buckets": HOURS},
        "figures": {k: total[k] for k in FIGURES},
        "agents_in_body": len(body["agents"]),
        "baseline_count_group_by_hour": b,
        "queue_stats": o,
        "http_route": h,
        "parts": {name: summary(samples) for name, samples in split.items()},
        "raw_rows_queue_stats": summary([raw_first_s, *raw_runs]),
        "ratio_median": round(o["median_ms"] / b["median_ms"], 1),
        "ratio_p95": round(o["p95_ms"] / b["p95_ms"], 1),
    }


def same_figures(rolled: Any, raw: Any, where: str = "body") -> None:
    """The same body, floats within the 0.1 their rounding keeps (sums in another order)."""
    if isinstance(raw, dict):
        assert rolled.keys() == raw.keys(), where
        for key in raw:
            same_figures(rolled[key], raw[key], f"{where}.{key}")
    elif isinstance(raw, list):
        assert len(rolled) == len(raw), where
        for i, (a, b) in enumerate(zip(rolled, raw, strict=True)):
            same_figures(a, b, f"{where}[{i}]")
    elif isinstance(raw, float) and isinstance(rolled, float):
        assert abs(rolled - raw) <= 0.10001, (where, rolled, raw)
    else:
        assert rolled == raw, (where, rolled, raw)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="call records to load")
    parser.add_argument(
        "--months",
        type=int,
        default=1,
        help="spread the calls over this many 30-day months ending with the one measured",
    )
    parser.add_argument("--reps", type=int, default=15, help="repetitions of each path")
    parser.add_argument("--budget", type=float, default=45.0, help="seconds for the timing")
    parser.add_argument("--queue", default="hotline", choices=[p.name for p in QUEUES])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="20k calls, 5 repetitions")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--no-write", action="store_true", help="leave results/stats.json")
    parser.add_argument(
        "--write-up", action="store_true", help="only rewrite RESULTS.md from the JSON files"
    )
    args = parser.parse_args()
    if args.write_up:
        provenance.write_section(NAME, write_up())
        return 0
    if args.quick:
        args.calls, args.reps = 20_000, 5
    if args.calls < 1000 * args.months or not 1 <= args.months <= 24:
        parser.error("--months: 1 to 24; --calls: at least 1000 a month (five queues)")

    admin_url = os.environ.get(
        "CTI_BENCH_POSTGRES_URL", os.environ.get("CTI_TEST_POSTGRES_URL", DEFAULT_URL)
    )
    try:
        url = await create_database(admin_url, prefix="cti_bench_stats")
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"cannot reach PostgreSQL at {admin_url}: {exc}", file=sys.stderr)
        print("start the devstack or set CTI_BENCH_POSTGRES_URL", file=sys.stderr)
        return 2
    print(f"database {url.rpartition('/')[2]}: migrating and loading ...", flush=True)
    load_before = round(os.getloadavg()[0], 2)  # a shared machine: say how busy it was
    code = provenance.commit()
    try:
        await upgrade_async(url)
        load = await seed(url, args.calls, random.Random(args.seed), Span(args.months))
        rows = load["rows"]
        print(
            f"loaded {rows['calls']} calls, {rows['call_events']} call events, "
            f"{rows['agent_states']} agent states, {rows['csat_ratings']} ratings "
            f"({load['agents']} agents) in {load['total_s']:.0f}s",
            flush=True,
        )
        # Rows loaded by COPY bypass the service: its first start builds the rollups.
        engine = create_engine(url)
        t = time.perf_counter()
        await rollups.ensure_built(session_factory(engine), StatsSettings().rules(TZ_NAME))
        load["rollups_build_s"] = round(time.perf_counter() - t, 1)
        await engine.dispose()
        print(f"rollups built in {load['rollups_build_s']:.0f}s", flush=True)
        result = await measure(url, args.queue, args.reps, args.budget)
    finally:
        if not args.keep:
            await drop_database(admin_url, url)
        else:
            print(f"kept {url.rpartition('/')[2]}")
    f = result["figures"]
    print(
        f"queue {args.queue}, {result['period']['from']} .. {result['period']['to']} at 1h: "
        f"offered {f['offered']}, answered {f['answered']}, abandoned {f['abandoned']}, "
        f"{result['agents_in_body']} agents"
    )
    for label, key in (
        ("baseline count(*) GROUP BY hour", "baseline_count_group_by_hour"),
        ("ours: queue_stats()", "queue_stats"),
        ("ours: GET .../stats (ASGI)", "http_route"),
    ):
        s = result[key]
        print(f"{label:34} median {s['median_ms']:8.1f} ms  p95 {s['p95_ms']:8.1f} ms  n={s['n']}")
    for name, s in result["parts"].items():
        print(f"  part {name:27} median {s['median_ms']:8.1f} ms  p95 {s['p95_ms']:8.1f} ms")
    s = result["raw_rows_queue_stats"]
    print(f"{'before: raw rows (no rollups)':34} median {s['median_ms']:8.1f} ms  n={s['n']}")
    print(f"ratio ours/baseline: median {result['ratio_median']}x  p95 {result['ratio_p95']}x")
    met = result["queue_stats"]["median_ms"] <= AIM_MS
    print(f"aim median <= {AIM_MS:.0f} ms: {'met' if met else 'NOT met'}")
    if not args.no_write:
        write_result(
            provenance.RESULTS_DIR / f"{result_name(args.months)}.json",
            {
                "benchmark": NAME,
                "provenance": provenance.provenance(code),
                "load_average_1m_before": load_before,
                "args": {k: v for k, v in vars(args).items() if k not in ("keep", "no_write")},
                "calls": args.calls,
                "months": args.months,
                "load": load,
                **result,
                "aim_median_ms": AIM_MS,
                "aim_met": met,
            },
        )
        if not args.quick:
            provenance.write_section(NAME, write_up())
            print(f"written benchmarks/RESULTS.md ({NAME})")
    return 0


def result_name(months: int) -> str:
    return NAME if months == 1 else f"{NAME}-{months}months"


def _n(x: float) -> str:
    """Milliseconds as the tables print them: 3 significant figures, at least one decimal."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


PART_LABELS = {
    "period_sums": "part: `rolled.period_sums` (the buckets from the slot, day and month rows, "
    "CSAT included)",
    "agent_call_totals": "part: `rolled.agent_call_totals` (the agents' calls of the period)",
    "queue_agents": "part: `rolled.queue_agents`",
    "agent_state_totals": "part: `rolled.agent_state_totals` (the agents' time per state and "
    "reason)",
}


def mode_section(r: dict[str, Any], title: str) -> list[str]:
    """One mode's run: its data, its timings against the baseline, the aim."""
    f, rows, ld = r["figures"], r["load"]["rows"], r["load"]
    lines = [
        f"### {title} (`benchmarks/results/{result_name(r['months'])}.json`)",
        "",
        f"Data: {rows['calls']:,} call records, {rows['call_events']:,} call events, "
        f"{rows['agent_states']:,} agent state rows, {rows['csat_ratings']:,} ratings, "
        f"{ld['agents']:,} agents over the {len(QUEUES)} queues, spread over {r['months']} "
        f"{'month' if r['months'] == 1 else 'months'} up to the one measured. Loaded in "
        f"{ld['total_s']:.0f} s (simulation {ld['simulate_and_states_s']:.0f} s, COPY "
        f"{ld['copy_calls_s'] + ld['copy_events_csat_s']:.0f} s); rollups built in "
        f"**{ld['rollups_build_s']:.0f} s**. The {r['queue']} queue that month: "
        f"{f['offered']:,} offered calls, answer rate {100 * f['answer_rate']:.1f} %, service "
        f"level {100 * f['service_level_of_offered']:.1f} %, AHT {f['aht_s']:.0f} s, "
        f"{r['agents_in_body']} agents in the body.",
        "",
        f"{r['queue_stats']['n']} interleaved repetitions (the parts: "
        f"{next(iter(r['parts'].values()))['n']}), milliseconds:",
        "",
        "| | median | p95 | min |",
        "|---|---|---|---|",
    ]

    def row(label: str, q: dict[str, float], bold: bool = False) -> str:
        med = f"**{_n(q['median_ms'])}**" if bold else _n(q["median_ms"])
        return f"| {label} | {med} | {_n(q['p95_ms'])} | {_n(q['min_ms'])} |"

    b, o, h = r["baseline_count_group_by_hour"], r["queue_stats"], r["http_route"]
    lines += [
        row(
            "baseline: `SELECT date_trunc('hour', offered_at AT TIME ZONE ...), count(*) ... "
            "GROUP BY 1`",
            b,
        ),
        row("ours: `queue_stats()` (the route's service function, in-process)", o, True),
        row("ours: the HTTP route through httpx's ASGI transport (token, JSON)", h, True),
        *(row(PART_LABELS.get(k, k), v) for k, v in r["parts"].items()),
        row(
            f"before: the same function on the raw rows (`from_rollups=False`, "
            f"{r['raw_rows_queue_stats']['n']} runs)",
            r["raw_rows_queue_stats"],
        ),
    ]
    ratio = o["median_ms"] / b["median_ms"]
    raw_ratio = r["raw_rows_queue_stats"]["median_ms"] / o["median_ms"]
    lines += [
        "",
        f"Ratio ours/baseline: **{ratio:.2f}x** (medians; p95 "
        f"{o['p95_ms'] / b['p95_ms']:.2f}x); the raw rows take {raw_ratio:.0f}x as long as "
        f"the rollups. Aim median ≤ {r['aim_median_ms']:g} ms: "
        f"{provenance.verdict(r['aim_met'])} (in-process {_n(o['median_ms'])} ms, over HTTP "
        f"{_n(h['median_ms'])} ms). The run also checked that the body from the rollups "
        "equals the body from the raw rows (every count, every interval, every agent; "
        "floats within the 0.1 they are rounded to).",
    ]
    before = provenance.committed_json(BEFORE_ROLLUPS, result_name(r["months"]))
    if before is not None:
        lines += [
            "",
            f"Before the rollups (`benchmarks/results/{result_name(r['months'])}.json` as "
            f"committed in `{BEFORE_ROLLUPS}`, code `{before.get('commit', '?')}`, run of "
            f"{str(before.get('at', '?'))[:16]}): `queue_stats()` median "
            f"{_n(before['queue_stats']['median_ms'])} ms against a baseline of "
            f"{_n(before['baseline_count_group_by_hour']['median_ms'])} ms.",
        ]
    p = r["provenance"]
    lines += [
        "",
        f"{provenance.describe(p)} 1-minute load average before the run: "
        f"{r['load_average_1m_before']:g}.",
    ]
    return lines


def write_up() -> str:
    """The section of RESULTS.md, from the stored runs of both modes (one month, 12 months)."""
    runs: dict[int, dict[str, Any] | None] = {}
    for months in (1, 12):
        path = provenance.RESULTS_DIR / f"{result_name(months)}.json"
        stored = json.loads(path.read_text("utf-8")) if path.exists() else None
        runs[months] = stored if stored is not None and "provenance" in stored else None
    lines = [
        "## Statistics: `benchmarks/stats.py` (issue 17)",
        "",
        f"`GET /api/v1/queues/hotline/stats` for one month at `interval=1h` ({HOURS} buckets, "
        f"{TZ_NAME}) against the devstack PostgreSQL, schema by the project's migrations, data",
        f"loaded by COPY from a simulation of a {len(QUEUES)}-queue centre: call records "
        "(answered, some by the preferred agent and some transferred; short and long abandons;",
        "timeouts, some to voicemail; closed-hours voicemail; IVR hang-ups; outbound), their",
        "timelines in `call_events` (unanswered rings included), the agents' state history",
        "from a shift-by-shift simulation of each queue's agents (`agent_states`: logins,",
        "breaks, lunch, every ring, talk and wrap-up) and CSAT ratings. Two modes: the calls",
        f"in the one month measured ({MONTH:%B %Y}, with 11.11 and its after-sales wave), and",
        "the same number of calls spread over the 12 months up to it (`--months 12`). Rows",
        "loaded by COPY bypass the service, so the benchmark then builds the rollups as the",
        "service's first start after migration 0016 does (`rollups.ensure_built`), and times",
        "it. Baseline: the bare count of the queue's calls per hour of the month, the least",
        "work any implementation must do, in the same process, pool and repetitions.",
        "",
    ]
    for months, title in ((1, "One month"), (12, "The same calls over 12 months")):
        r = runs[months]
        if r is None:
            lines += [
                f"### {title}",
                "",
                "No run in this format yet: "
                f"`python benchmarks/stats.py{'' if months == 1 else ' --months 12'}`.",
                "",
            ]
            continue
        lines += [*mode_section(r, title), ""]
        if months == 12:
            lines += [
                "Comparing the two bodies is what found a bug in the raw rows' agent time "
                "(fixed in `eab76ad`, with the test",
                "`test_two_rows_of_one_instant_before_the_period_...`): two state rows of one "
                "instant before the period (a login",
                "and a logout of the same moment, in the simulation's shift changes) made the "
                "first count minus the whole time",
                "since it; the rollups, summed in Python by the definition, had it right.",
                "",
            ]
    lines += [
        "### What the rollups are",
        "",
        '`cti/stats/rollups.py`, README "How a month answers in milliseconds": sums per '
        "15-minute slot per queue,",
        "and per slot, business day and business month per queue and agent and per agent, "
        "state and pause reason,",
        "recomputed from the raw rows in the transaction that writes a call, a rating or a "
        "state row. A period is read",
        "as months, days and slots, with only its unaligned edges and the agents' current "
        "states read raw. What it took:",
        "",
        "* days and months of the business time zone, not UTC days: a month in the business "
        "zone read with UTC days",
        "  needs the slots of the unaligned hours at both ends for every agent; now it is one "
        "month row per agent and state;",
        "* an agent whose latest state is a logout accrues nothing, so their time is summed to "
        "the end of time; otherwise",
        "  the month of every agent who went home before the period's end could only be read "
        "as days;",
        "* the per-agent ranges in one `LATERAL` statement, summed inside each range: a plain "
        "join of the ranges hashed",
        "  the whole table, and summing the rows outside sorted them on disk;",
        "* the queue's agents noted as states are written (`stats_queue_agents`) instead of a "
        "recursive index probe per",
        "  agent (the `rolled.queue_agents` part above).",
        "",
        "Reproduce (under `flock /work/devstack.lock` on the shared machine; most of a run is "
        "the load and the rollup",
        "build timed above): `python benchmarks/stats.py` and "
        "`python benchmarks/stats.py --months 12` (`--calls 1000000` by default; `--quick`,",
        "20,000 calls, is a smoke run that leaves RESULTS.md alone).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
