"""Prometheus metrics, on a registry owned by the container (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ami_events = Counter(
            "cti_ami_events_total", "AMI events received", registry=self.registry
        )
        self.ami_connected = Gauge(
            "cti_ami_connected", "1 while logged in to AMI", registry=self.registry
        )
        self.calls_finished = Counter(
            "cti_calls_finished_total",
            "Finished calls by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.calls_active = Gauge("cti_calls_active", "Calls in progress", registry=self.registry)
        self.records_pending = Gauge(
            "cti_call_records_pending",
            "Finished calls waiting to be written",
            registry=self.registry,
        )
        self.tracker_errors = Counter(
            "cti_tracker_errors_total",
            "AMI events a tracker failed on (skipped, logged)",
            ["tracker"],
            registry=self.registry,
        )
        self.subscriber_failures = Counter(
            "cti_subscriber_failures_total",
            "Domain event subscribers that raised (isolated, logged)",
            ["subscriber"],
            registry=self.registry,
        )
        self.agi_requests = Counter(
            "cti_agi_requests_total",
            "FastAGI sessions by script (unknown: no such route) and outcome "
            "(ok, hangup, failed, timeout, no_route)",
            ["script", "outcome"],
            registry=self.registry,
        )
        self.agi_refusals = Counter(
            "cti_agi_refused_total",
            "FastAGI connections closed unheard, by reason (address: not allowed; "
            "capacity: over CTI_AGI_MAX_CONNECTIONS)",
            ["reason"],
            registry=self.registry,
        )

    def subscriber_failed(self, subscriber: str) -> None:
        self.subscriber_failures.labels(subscriber).inc()

    def ami_state(self, state: str) -> None:
        """The AMI client's ``on_state``: 1 in ``logged_in`` (``ConnectionState``), else 0."""
        self.ami_connected.set(1 if state == "logged_in" else 0)

    def agi_request(self, script: str, outcome: str) -> None:
        self.agi_requests.labels(script, outcome).inc()

    def agi_refused(self, reason: str) -> None:
        self.agi_refusals.labels(reason).inc()
