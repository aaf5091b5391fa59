"""Job gauges: a queue that empties shows 0, not its last value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from cti.jobs.metrics import JobGauges


def test_gauges_show_counts_and_zero_for_emptied_states() -> None:
    registry = CollectorRegistry()
    gauges = JobGauges(registry)
    gauges.update({("tickets.callback", "queued"): 3, ("tickets.callback", "dead"): 1}, 2)
    gauges.update({("tickets.callback", "done"): 4}, 0)
    text = generate_latest(registry).decode()
    assert 'cti_jobs{kind="tickets.callback",status="done"} 4.0' in text
    assert 'cti_jobs{kind="tickets.callback",status="queued"} 0.0' in text
    assert 'cti_jobs{kind="tickets.callback",status="dead"} 0.0' in text
    assert "cti_jobs_spooled 0.0" in text


def test_the_oldest_due_job_shows_its_wait_and_zero_once_none_is_due() -> None:
    registry = CollectorRegistry()
    gauges = JobGauges(registry)

    def oldest(kind: str) -> float | None:
        return registry.get_sample_value("cti_jobs_oldest_due_seconds", {"kind": kind})

    gauges.update({("recordings.catalog", "queued"): 5}, 0, {"recordings.catalog": 420.0})
    assert oldest("recordings.catalog") == 420.0
    # Caught up: the kind is still shown, at 0, rather than its last wait.
    gauges.update({("recordings.catalog", "done"): 5}, 0, {})
    assert oldest("recordings.catalog") == 0.0
