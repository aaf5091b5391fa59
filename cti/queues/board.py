"""The live queue board: figures on demand, coalesced pushes, the day's waiting series.

It reads the two trackers (no state of its own but the queues each agent has been
in, the last figures pushed and the series). Bus subscribers tell it something
changed; it never computes on the AMI path: a change schedules one flush on the
event loop, at most one a second, and a flush pushes a ``queue`` frame only for
the queues whose figures differ from the last frame pushed -- so a wallboard gets
at most one frame per queue per second and none while nothing changes (the
longest wait grows by itself: the page counts it up from ``oldest_waiting_since``).

A queue is known if the configuration names it (a hotline's queue) or Asterisk
has shown it (a member's queue, a caller's queue); any other name is unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from cti.agents.state import AgentStatus
from cti.clock import Clock
from cti.queues.live import QueueNow, queue_now
from cti.queues.schemas import QueueLiveOut
from cti.queues.series import SeriesPoint, WaitingSeries
from cti.queues.today import TodayFigures, TodaySoFar, not_wired
from cti.tracking.model import WaitingCaller

log = logging.getLogger(__name__)

__all__ = ["PUSH_INTERVAL_S", "QueueBoard"]

PUSH_INTERVAL_S = 1.0

Push = Callable[[dict[str, Any]], None]


class WaitingSource(Protocol):
    def waiting_callers(self) -> list[WaitingCaller]: ...


class AgentSource(Protocol):
    def statuses(self, now: float | None = None) -> list[AgentStatus]: ...

    def asterisk_now(self) -> float: ...


class QueueBoard:
    def __init__(
        self,
        calls: WaitingSource,
        agents: AgentSource,
        series: WaitingSeries,
        *,
        clock: Clock,
        configured: Iterable[str] = (),
        push: Push | None = None,
        today: TodaySoFar = not_wired,
    ) -> None:
        self._calls = calls
        self._agents = agents
        self.series = series
        self._clock = clock
        self._configured = frozenset(configured)
        self.push = push
        self.today: TodaySoFar = today
        """Replaced by the composition root with the statistics' "today so far"."""
        self._homes: dict[str, frozenset[str]] = {}
        self._seen: set[str] = set()
        self._sent: dict[str, tuple[object, ...]] = {}
        self._last_flush = -PUSH_INTERVAL_S
        self._pending: asyncio.TimerHandle | None = None
        self._stopped = False
        self.frames_pushed = 0

    # --- figures -----------------------------------------------------------------------

    def _read(self) -> tuple[list[WaitingCaller], list[AgentStatus], float]:
        now = self._agents.asterisk_now()
        statuses = self._agents.statuses(now)
        waiting = self._calls.waiting_callers()
        for status in statuses:
            member_of = frozenset(m.queue for m in status.queues)
            home = self._homes.get(status.interface, frozenset())
            if not member_of <= home:
                self._homes[status.interface] = home | member_of
            self._seen.update(member_of)
        self._seen.update(w.queue for w in waiting)
        return waiting, statuses, now

    def queues(self) -> list[str]:
        """Every known queue name, sorted."""
        self._read()
        return sorted(self._configured | self._seen)

    def knows(self, queue: str) -> bool:
        return queue in self.queues()

    def all_now(self) -> list[QueueNow]:
        waiting, statuses, now = self._read()
        return [
            queue_now(q, waiting, statuses, self._homes, now)
            for q in sorted(self._configured | self._seen)
        ]

    def now(self, queue: str) -> QueueNow:
        waiting, statuses, now = self._read()
        return queue_now(queue, waiting, statuses, self._homes, now)

    def waiting_series(self, queue: str) -> list[SeriesPoint]:
        return self.series.points(queue)

    async def today_so_far(self, queue: str) -> TodayFigures | None:
        """Today's figures, or None if the statistics cannot say (logged, never raised:
        the live figures are worth showing without them)."""
        try:
            return await self.today(queue)
        except Exception:
            log.exception("today's figures for queue %s failed", queue)
            return None

    # --- pushes ------------------------------------------------------------------------

    def changed(self, event: object = None) -> None:
        """Something may have moved (a bus subscriber): flush soon, at most once a second.

        An agent's state change names the queue it happened in: that queue is one of the
        agent's homes, even if it leaves the queue before anyone asks (logged out there).
        """
        interface, queue = getattr(event, "interface", None), getattr(event, "queue", None)
        if isinstance(interface, str) and isinstance(queue, str) and queue:
            home = self._homes.get(interface, frozenset())
            if queue not in home:
                self._homes[interface] = home | {queue}
            self._seen.add(queue)
        if self.push is None or self._stopped or self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # fed outside a loop (a replay): nobody is watching
        wait = self._last_flush + PUSH_INTERVAL_S - self._clock.monotonic()
        # Even "now" waits for the loop: the AMI event being handled may move the
        # other tracker too (AgentConnect feeds both), and the frame should show both.
        self._pending = loop.call_later(max(0.0, wait), self.flush)

    def flush(self) -> None:
        self._pending = None
        self._last_flush = self._clock.monotonic()
        if self.push is None:
            return
        for now in self.all_now():
            key = now.pushed()
            if self._sent.get(now.queue) == key:
                continue
            self._sent[now.queue] = key
            self.frames_pushed += 1
            self.push({"type": "queue", **QueueLiveOut.of(now).model_dump(mode="json")})

    # --- the minute sampler ------------------------------------------------------------

    def sample(self) -> None:
        """Take this minute's waiting callers per queue (a ticker calls it every few seconds)."""
        figures = {q.queue: q.waiting for q in self.all_now()}
        if self.series.record(self._clock.now(), figures) and self.push is not None:
            for queue, points in ((q, self.series.points(q)) for q in figures):
                if points:
                    last = points[-1]
                    self.push(
                        {
                            "type": "queue_sample",
                            "queue": queue,
                            "at": last.at.isoformat(),
                            "waiting": last.waiting,
                        }
                    )

    def stop(self) -> None:
        self._stopped = True
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending.cancel()
            self._pending = None
