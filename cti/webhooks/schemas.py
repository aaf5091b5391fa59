from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cti.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery


class WebhookAttemptOut(BaseModel):
    n: int = Field(description="1 for the first attempt")
    at: datetime
    status_code: int | None = Field(description="the shop's HTTP status; null: no answer")
    error: str | None = Field(description="why it did not count as delivered")
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    event_id: str = Field(description="the receiver's de-duplication key (X-CTI-Event-Id)")
    type: str
    status: DeliveryStatus
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="the JSON body, as sent on every attempt")
    attempt_log: list[WebhookAttemptOut]


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryOut]


def attempt_out(row: WebhookAttempt) -> WebhookAttemptOut:
    return WebhookAttemptOut(
        n=row.n,
        at=row.at,
        status_code=row.status_code,
        error=row.error,
        duration_ms=row.duration_ms,
    )


def delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        event_id=row.event_id,
        type=row.event_type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        payload=json.loads(row.body),
        attempt_log=[attempt_out(a) for a in row.attempt_rows],
    )
