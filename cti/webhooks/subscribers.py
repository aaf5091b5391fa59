"""Webhook deliveries run as durable jobs of their own kind, with their own (longer) backoff."""

from __future__ import annotations

from cti.jobs.runner import JobRunner
from cti.webhooks.config import WebhookSettings
from cti.webhooks.deliver import WebhookSender
from cti.webhooks.service import WEBHOOK_JOB


def register(runner: JobRunner, sender: WebhookSender, settings: WebhookSettings) -> None:
    runner.register(WEBHOOK_JOB, sender.handler(), backoff=settings.backoff())
