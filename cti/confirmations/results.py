"""A confirmation's final result as the shop hears it (webhook ``confirmation.finished``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cti.confirmations.dialler import first_attempt
from cti.confirmations.models import Confirmation, ConfirmationAttempt, ConfirmationStatus
from cti.webhooks.service import enqueue_event

FINISHED_EVENT = "confirmation.finished"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def attempt_view(attempt: ConfirmationAttempt) -> dict[str, Any]:
    return {
        "n": attempt.n,
        "started_at": _iso(attempt.started_at),
        "ended_at": _iso(attempt.ended_at),
        "result": attempt.result,
        "digit": attempt.digit,
    }


def finished_event(row: Confirmation, attempts: list[ConfirmationAttempt]) -> dict[str, Any]:
    """The webhook's ``data``: plain JSON (amounts stay decimal strings)."""
    return {
        "confirmation_id": row.public_id,
        "shop": row.shop,
        "order_id": row.order_id,
        "result": row.status,
        "finished_at": _iso(row.finished_at),
        "attempts": [attempt_view(a) for a in sorted(attempts, key=lambda a: a.n)],
    }


async def notify_shop(session: AsyncSession, row: Confirmation, now: datetime) -> None:
    """Queue the webhook in the transaction that sets the final result (at least once)."""
    await session.refresh(row, ["attempt_rows"])
    await enqueue_event(
        session,
        shop_id=row.shop,
        event_type=FINISHED_EVENT,
        confirmation_id=row.id,
        data=finished_event(row, list(row.attempt_rows)),
        now=now,
    )


async def request_stored(session: AsyncSession, row: Confirmation, now: datetime) -> None:
    """A new request: dial it, or tell the shop at once that it never will be (do-not-call)."""
    if row.status == ConfirmationStatus.QUEUED.value:
        await first_attempt(session, row, now)
    else:
        await notify_shop(session, row, now)
