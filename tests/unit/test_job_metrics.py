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
