"""Issue 19 item 4: the Grafana dashboard and the alert rules in deploy/ read only metrics
and labels the service's /metrics really exports (a renamed metric would leave an empty
panel and an alert that can never fire, with no error anywhere).

The service is the test app of tests/db (the running container, its HTTP app); what it
records only when something happens (a call, a job, a failure) is made to happen first.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cti.api import create_http_app
from cti.app import update_job_gauges
from cti.container import Container
from cti.jobs.service import enqueue
from cti.recordings.config import RecordingSettings
from cti.settings import Settings
from tests.db.conftest import free_port
from tests.db.test_metrics_live import eventually, recorded
from tests.monitoring import Query, dashboard_queries, rule_queries

TARGET_LABELS = {"instance", "job"}
"""Added by Prometheus to every series it scrapes."""
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself (the scrape's success), not the service."""
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def exported(text: str) -> dict[str, set[str] | None]:
    """Every series name in the exposition, with the label names its samples carry; a
    family without samples is there by name, its labels unknown (None)."""
    series: dict[str, set[str] | None] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            series.setdefault(family.name + suffix, None)
        for sample in family.samples:
            series[sample.name] = (series[sample.name] or set()) | set(sample.labels)
    return series


async def happen(container: Container) -> None:
    """What makes each labelled metric have a sample: a call, a job, one of each failure."""
    calls = container.metrics.calls_finished
    for message in recorded("answered.ami"):
        container.pipeline.on_ami_event(message)
    await eventually(lambda: any(family.samples for family in calls.collect()))
    async with container.sessions() as session, session.begin():
        now = container.clock.now()
        await enqueue(session, kind="monitoring.test", key="m-1", payload={}, now=now)
    await update_job_gauges(container)
    metrics = container.metrics
    metrics.agi_request("hotline", "ok", 0.004)
    metrics.agi_refused("capacity")
    metrics.webhook_failed("status")
    metrics.subscriber_failed("monitoring")
    metrics.tracker_errors.labels("calls").inc()
    container.recording_metrics.catalog_failed("invalid")
    container.recording_metrics.deleted.labels("retention").inc()


def check(query: Query, series: dict[str, set[str] | None]) -> list[str]:
    problems = []
    seen_labels = set(TARGET_LABELS)
    for name, labels in query.selectors():
        if name in PROMETHEUS_OWN:
            continue
        if name not in series:
            problems.append(f"{query.where}: {name} is not in /metrics")
            continue
        has = series[name]
        if has is None:
            problems.append(f"{query.where}: {name} has no sample here: make it happen")
            continue
        seen_labels |= has
        if unknown := labels - has - TARGET_LABELS:
            problems.append(f"{query.where}: {name} has no label {sorted(unknown)}")
    if unknown := query.grouping() - seen_labels:
        problems.append(f"{query.where}: grouped by {sorted(unknown)}, which no metric has")
    return problems


async def test_every_metric_and_label_the_dashboard_and_alerts_read_is_exported(
    container: Container, client: httpx.AsyncClient
) -> None:
    await happen(container)
    response = await client.get("/metrics")
    assert response.status_code == 200
    series = exported(response.text)
    queries = dashboard_queries() + rule_queries()
    used = {name for q in queries for name, _ in q.selectors()}
    # The conditions operators must see are among them.
    assert {"cti_ready", "cti_jobs_oldest_due_seconds", "cti_recordings_root_free_bytes"} <= used
    problems = [p for q in queries for p in check(q, series)]
    assert problems == []


async def test_metrics_tell_the_database_and_ami_down_at_each_scrape(tmp_path: Path) -> None:
    """``cti_ready`` is asked when Prometheus scrapes: a database that does not answer and
    an AMI that is not logged in show as 0, and a recordings root that goes away shows as 0
    at the next scrape, with nobody calling /readyz."""
    settings = Settings(
        data_dir=tmp_path,
        # Nothing listens there: the database is down.
        database_url=f"postgresql+asyncpg://cti:cti@127.0.0.1:{free_port()}/cti",
        ami_enabled=True,
        agi_enabled=False,
        recordings_root=str(tmp_path / "recordings"),
    )
    recordings = RecordingSettings(local_root=str(tmp_path / "recordings"), min_free_mb=0)
    (tmp_path / "recordings").mkdir()
    container = Container(settings, recording_settings=recordings)
    transport = httpx.ASGITransport(app=create_http_app(container.http_services()))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cti.test") as client:

            async def ready(check: str) -> float:
                text = (await client.get("/metrics")).text
                [family] = [
                    f for f in text_string_to_metric_families(text) if f.name == "cti_ready"
                ]
                [value] = [s.value for s in family.samples if s.labels == {"check": check}]
                return value

            assert await ready("database") == 0
            assert await ready("ami") == 0
            assert await ready("recordings") == 1
            await asyncio.to_thread(shutil.rmtree, tmp_path / "recordings")
            assert await ready("recordings") == 0
    finally:
        await container.engine.dispose()
