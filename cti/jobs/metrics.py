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
        self.oldest_due = Gauge(
            "cti_jobs_oldest_due_seconds",
            "How long the oldest queued job whose time has come has waited past it, by kind "
            "(0: none due; jobs waiting for a retry are not due)",
            ["kind"],
            registry=registry,
        )
        self._seen: set[str] = set()

    def update(
        self,
        counts: Mapping[tuple[str, str], int],
        spooled: int,
        oldest_due: Mapping[str, float] | None = None,
    ) -> None:
        """Set the gauges from :func:`cti.jobs.service.count_jobs`, ``JobSpool.pending()``
        and :func:`cti.jobs.service.oldest_due`.

        Every status of every kind seen so far is set, to 0 when absent, so a
        dashboard sees a queue empty out rather than a stale last value.
        """
        due = oldest_due or {}
        self._seen.update(kind for kind, _ in counts)
        self._seen.update(due)
        for kind in self._seen:
            for status in JobStatus:
                self.jobs.labels(kind, status.value).set(counts.get((kind, status.value), 0))
            self.oldest_due.labels(kind).set(due.get(kind, 0.0))
        self.spooled.set(spooled)
