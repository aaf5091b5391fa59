"""Webhook events: a delivery row and its durable job, written in the caller's transaction.

The body is serialised once, here, as canonical JSON (sorted keys, no spaces,
UTF-8) and stored: every retry sends the same bytes, so a receiver that
de-duplicates by ``event_id`` or by a hash of the body sees one event.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cti.jobs.models import Job, JobStatus
from cti.jobs.service import enqueue
from cti.webhooks.models import EVENT_TYPE_MAX, DeliveryStatus, WebhookAttempt, WebhookDelivery

WEBHOOK_JOB = "webhooks.deliver"
MAX_ATTEMPTS = 30
"""Attempts per delivery; with the webhook backoff about 23 hours (cti.webhooks.config)."""
EVENT_TYPE_RE = re.compile(rf"^[a-z][a-z0-9_.]{{0,{EVENT_TYPE_MAX - 1}}}$")


WEBHOOK_KEY_PREFIX = "webhook:"
STRANDED_BATCH = 100


def webhook_key(event_id: str) -> str:
    return f"{WEBHOOK_KEY_PREFIX}{event_id}"


def canonical_json(value: Mapping[str, Any]) -> str:
    """One spelling per value: sorted keys, no spaces, non-ASCII as itself (sent as UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_body(
    *, event_id: str, event_type: str, created_at: datetime, data: Mapping[str, Any]
) -> str:
    stamp = created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return canonical_json(
        {"event_id": event_id, "type": event_type, "created_at": stamp, "data": dict(data)}
    )


async def enqueue_event(
    session: AsyncSession,
    *,
    shop_id: str,
    event_type: str,
    confirmation_id: int | None,
    data: Mapping[str, Any],
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
) -> WebhookDelivery:
    """Record an event for ``shop_id`` and the job that POSTs it; flushes, the caller commits.

    ``confirmation_id`` is the confirmation's row id (``Confirmation.id``), or None
    for an event about no confirmation. ``data`` must be JSON (a ``ValueError``
    otherwise): the caller turns decimals and times into strings first.
    """
    if not shop_id or len(shop_id) > 64:
        raise ValueError("shop_id must be 1-64 characters")
    if not EVENT_TYPE_RE.fullmatch(event_type):
        raise ValueError(f"event type must match {EVENT_TYPE_RE.pattern}")
    event_id = str(uuid.uuid4())
    try:
        body = event_body(event_id=event_id, event_type=event_type, created_at=now, data=data)
    except TypeError as exc:
        raise ValueError(f"webhook data is not JSON: {exc}") from None
    delivery = WebhookDelivery(
        event_id=event_id,
        shop=shop_id,
        confirmation_id=confirmation_id,
        event_type=event_type,
        body=body,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    await enqueue(
        session,
        kind=WEBHOOK_JOB,
        key=webhook_key(event_id),
        payload={"event_id": event_id},
        now=now,
        max_attempts=max_attempts,
    )
    return delivery


async def get_delivery(session: AsyncSession, *, event_id: str) -> WebhookDelivery | None:
    found = await session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.event_id == event_id)
        .options(selectinload(WebhookDelivery.attempt_rows))
        .execution_options(populate_existing=True)
    )
    return found.scalar_one_or_none()


async def deliveries_of(session: AsyncSession, *, confirmation_id: int) -> list[WebhookDelivery]:
    """A confirmation's deliveries with their attempts, oldest first."""
    found = await session.execute(
        select(WebhookDelivery)
        .where(WebhookDelivery.confirmation_id == confirmation_id)
        .options(selectinload(WebhookDelivery.attempt_rows))
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return list(found.scalars())


def stranded_error(job_id: int) -> str:
    return (
        "the service stopped during the last attempt; whether the shop got it is unknown "
        f"(cti jobs retry {job_id} sends it again)"
    )


async def settle_stranded(session: AsyncSession, *, now: datetime) -> int:
    """Mark ``failed`` the pending deliveries whose job is dead; how many. Flushes.

    A worker that dies (or hangs past its lease) during a delivery's last attempt
    leaves the job running; the next lease buries it dead without running it again,
    and the delivery, whose attempt was never logged, would stay ``pending`` forever.
    This logs that attempt as interrupted and gives the delivery up like any other
    last attempt, so the shop's list says so and ``cti jobs retry`` can send it again.
    """
    found = await session.execute(
        select(WebhookDelivery.id, Job.id)
        .join(Job, Job.key == literal(WEBHOOK_KEY_PREFIX) + WebhookDelivery.event_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            Job.status == JobStatus.DEAD.value,
        )
        .order_by(WebhookDelivery.id)
        .limit(STRANDED_BATCH)
    )
    settled = 0
    for delivery_id, job_id in found.all():
        # Locked and read again: two instances sweeping at once log the attempt once.
        delivery = await session.get(
            WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
            continue
        log_attempt(
            session, delivery, at=now, status_code=None, error=stranded_error(job_id), final=True
        )
        settled += 1
    await session.flush()
    return settled


def log_attempt(
    session: AsyncSession,
    delivery: WebhookDelivery,
    *,
    at: datetime,
    status_code: int | None,
    error: str | None,
    final: bool,
    duration_ms: int = 0,
) -> None:
    """Log one attempt on ``delivery`` (locked by the caller) and set its status.

    Delivered without ``error`` and with a status; else failed when ``final``, else
    pending (again, when an operator retried a failed delivery's job).
    """
    delivery.attempts += 1
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            n=delivery.attempts,
            at=at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    delivery.last_status = status_code
    delivery.last_error = error
    if error is None and status_code is not None:
        delivery.status = DeliveryStatus.DELIVERED.value
        delivery.delivered_at = at
    elif final:
        delivery.status = DeliveryStatus.FAILED.value
    else:
        delivery.status = DeliveryStatus.PENDING.value
