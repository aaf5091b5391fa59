"""CTI_JOBS_* settings: defaults, backoff, and a wrong value named at start."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cti.jobs.config import JobSettings
from cti.settings import SettingsError, load_section
from cti.webhooks.config import WebhookSettings, retry_span
from cti.webhooks.service import MAX_ATTEMPTS


def test_defaults_give_up_after_about_twenty_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEASE_S", "MAX_ATTEMPTS", "BACKOFF_BASE_S", "BACKOFF_FACTOR", "BACKOFF_MAX_S"):
        monkeypatch.delenv(f"CTI_JOBS_{name}", raising=False)
    jobs = load_section(JobSettings, "CTI_JOBS_")
    backoff = jobs.backoff()
    waits = [backoff.delay(n) for n in range(1, jobs.max_attempts)]
    assert waits[:3] == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40)]
    assert timedelta(minutes=20) < sum(waits, timedelta()) < timedelta(minutes=22)


def test_backoff_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_JOBS_BACKOFF_MAX_S", "60")
    backoff = load_section(JobSettings, "CTI_JOBS_").backoff()
    assert backoff.delay(30) == timedelta(seconds=60)


def test_a_wrong_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_JOBS_LEASE_S", "0")
    with pytest.raises(SettingsError, match="CTI_JOBS_LEASE_S"):
        load_section(JobSettings, "CTI_JOBS_")


def test_webhook_settings_retry_for_about_a_day_within_the_job_lease() -> None:
    settings = WebhookSettings()
    backoff = settings.backoff()
    assert [backoff.delay(n).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    span = retry_span(backoff, MAX_ATTEMPTS)
    assert timedelta(hours=20) < span < timedelta(hours=25)
    assert settings.timeout_s < JobSettings().lease_s
