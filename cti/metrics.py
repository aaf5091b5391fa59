"""Prometheus metrics, on a registry owned by the container (no globals)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# FastAGI answers must come well inside Asterisk's patience: buckets around 1-50 ms.
AGI_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Screen-pops aim at 5 ms: fine buckets up to 20 ms, coarse beyond.
SCREENPOP_BUCKETS = (
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015, 0.02,
    0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


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
            "Finished calls by outcome, queue (empty: none) and direction",
            ["outcome", "queue", "direction"],
            registry=self.registry,
        )
        self.ami_reconnects = Counter(
            "cti_ami_reconnects_total",
            "Logins to AMI after the first (each one follows a lost connection)",
            registry=self.registry,
        )
        self.agi_seconds = Histogram(
            "cti_agi_seconds",
            "FastAGI session time by script, from the connection to the answer sent",
            ["script"],
            buckets=AGI_BUCKETS,
            registry=self.registry,
        )
        self.screenpop_seconds = Histogram(
            "cti_screenpop_seconds",
            "Screen-pops: from the read of the AgentCalled bytes on the AMI socket to the "
            "ringing frame written to the agent's WebSocket",
            buckets=SCREENPOP_BUCKETS,
            registry=self.registry,
        )
        self.webhook_failures = Counter(
            "cti_webhook_failures_total",
            "Webhook attempts that did not deliver, by reason (status: a non-2xx answer; "
            "error: no answer, a timeout, a refused address; unsendable: no URL or secret)",
            ["reason"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "cti_ready",
            "1 when the part is ready, by check (database, ami, recordings: what /readyz "
            "asks), asked at each scrape",
            ["check"],
            registry=self.registry,
        )
        self._logged_in_once = False
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

    def readiness(self, checks: Mapping[str, Mapping[str, Any]]) -> None:
        """Set ``cti_ready`` from :meth:`cti.readiness.Readiness.checks` (``{"database":
        {"ok": True, ...}, ...}``); a check that is off (AMI disabled) is not exported."""
        for check, result in checks.items():
            self.ready.labels(check).set(1 if result["ok"] else 0)

    def subscriber_failed(self, subscriber: str) -> None:
        self.subscriber_failures.labels(subscriber).inc()

    def ami_state(self, state: str) -> None:
        """The AMI client's ``on_state``: 1 in ``logged_in`` (``ConnectionState``), else 0;
        every login after the first is a reconnect."""
        logged_in = state == "logged_in"
        self.ami_connected.set(1 if logged_in else 0)
        if logged_in:
            if self._logged_in_once:
                self.ami_reconnects.inc()
            self._logged_in_once = True

    def agi_request(self, script: str, outcome: str, seconds: float | None = None) -> None:
        self.agi_requests.labels(script, outcome).inc()
        if seconds is not None and script != "unknown":
            self.agi_seconds.labels(script).observe(seconds)

    def webhook_failed(self, reason: str) -> None:
        self.webhook_failures.labels(reason).inc()

    def agi_refused(self, reason: str) -> None:
        self.agi_refusals.labels(reason).inc()
