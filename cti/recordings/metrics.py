"""Recording figures for Prometheus, on the registry the composition root owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from cti.recordings.health import RootHealth


class RecordingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.catalogued = Counter(
            "cti_recordings_catalogued_total",
            "Recordings written to the catalog (complete, hashed, in their final format)",
            registry=registry,
        )
        self.catalog_failures = Counter(
            "cti_recordings_catalog_failures_total",
            "Failed catalog attempts by reason (outside_root, invalid, incomplete, "
            "unreadable, tool, error); waiting for a file still being written is not one",
            ["reason"],
            registry=registry,
        )
        self.deleted = Counter(
            "cti_recordings_deleted_total",
            "Recording files deleted with their catalog row marked, by reason",
            ["reason"],
            registry=registry,
        )
        self.delete_failures = Counter(
            "cti_recordings_delete_failures_total",
            "Recording files retention could not delete (kept with their row, retried next run)",
            registry=registry,
        )
        self.root_ok = Gauge(
            "cti_recordings_root_ok",
            "1 when the recordings root exists, is writable and has the minimum free space",
            registry=registry,
        )
        self.root_free_bytes = Gauge(
            "cti_recordings_root_free_bytes",
            "Free space on the recordings root's file system (for this service's user)",
            registry=registry,
        )

    def catalog_failed(self, reason: str) -> None:
        self.catalog_failures.labels(reason).inc()

    def root(self, health: RootHealth) -> None:
        self.root_ok.set(1 if health.ok else 0)
        if health.free_bytes is not None:
            self.root_free_bytes.set(health.free_bytes)
