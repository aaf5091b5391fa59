"""Job figures for Prometheus, on the registry the composition root owns."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge

from cti.jobs.models import JobStatus


class JobGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs = Gauge(
            "cti_jobs",
            "Jobs in the table by kind and status",
            ["kind", "status"],
            registry=registry,
        )
        self.spooled = Gauge(
            "cti_jobs_spooled",
            "Jobs kept on local disk until the database answers",
            registry=registry,
        )
        self._seen: set[str] = set()

    def update(self, counts: Mapping[tuple[str, str], int], spooled: int) -> None:
        """Set the gauges from :func:`cti.jobs.service.count_jobs` and ``JobSpool.pending()``.

        Every status of every kind seen so far is set, to 0 when absent, so a
        dashboard sees a queue empty out rather than a stale last value.
        """
        self._seen.update(kind for kind, _ in counts)
        for kind in self._seen:
            for status in JobStatus:
                self.jobs.labels(kind, status.value).set(counts.get((kind, status.value), 0))
        self.spooled.set(spooled)
