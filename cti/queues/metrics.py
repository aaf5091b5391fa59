"""Waiting callers and agents by state per queue for Prometheus, read at each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cti.queues.live import QueueNow

STATES = ("available", "ringing", "on_call", "wrap_up", "paused", "logged_out")


class QueueCollector(Collector):
    def __init__(self, queues: Callable[[], Sequence[QueueNow]]) -> None:
        self._queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "cti_queue_callers_waiting", "Callers waiting in the queue now", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "cti_queue_longest_wait_seconds",
            "The longest wait of a caller in the queue now (0: none waiting)",
            labels=["queue"],
        )
        agents = GaugeMetricFamily(
            "cti_queue_agents", "The queue's agents by state now", labels=["queue", "state"]
        )
        for q in self._queues():
            waiting.add_metric([q.queue], q.waiting)
            longest.add_metric([q.queue], q.longest_wait_s or 0.0)
            for state in STATES:
                agents.add_metric([q.queue, state], getattr(q.agents, state))
        yield waiting
        yield longest
        yield agents


def register(registry: CollectorRegistry, queues: Callable[[], Sequence[QueueNow]]) -> None:
    registry.register(QueueCollector(queues))
