"""Forgetting old ``Idempotency-Key`` s, daily, so a shop may use a key again.

A key answers with its first response for ``CTI_CONFIRM_IDEMPOTENCY_KEEP_H`` (48 h;
the API promises at least 24). A ``confirmations.forget_keys`` job a day (key
``idempotency-keys:<YYYY-MM-DD>``), submitted at start and by an hourly ticker like the
recordings' retention, clears the key, the request's hash and its stored first response
of every confirmation asked for before then. The confirmation itself stays, with its
attempts and result.

The ``(shop, idempotency_key)`` column stays unique and not null: a forgotten key
becomes a space and the confirmation's public id, a value no shop can send (a key
begins with a printable character other than a space), so the shop's own key is free.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import CursorResult, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clock import Clock
from cti.confirmations.config import ConfirmationSettings
from cti.confirmations.models import Confirmation
from cti.jobs.daily import submit_daily
from cti.jobs.errors import InvalidJob
from cti.jobs.runner import JobHandler
from cti.jobs.spool import JobSpool, Submitted

log = logging.getLogger(__name__)

FORGET_KEYS_JOB = "confirmations.forget_keys"
FORGOTTEN = " "
"""What a forgotten key begins with (then the public id)."""


class ForgetKeysPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    day: date


def forget_keys_key(day: date) -> str:
    return f"idempotency-keys:{day.isoformat()}"


async def schedule_forget_keys(spool: JobSpool, clock: Clock, *, delay_s: float = 0.0) -> Submitted:
    """Submit today's job (once a day by its key, whoever submits it; ``delay_s``: due later)."""
    return await submit_daily(
        spool,
        clock,
        FORGET_KEYS_JOB,
        payload=ForgetKeysPayload,
        key=forget_keys_key,
        delay_s=delay_s,
    )


async def forget_keys(
    session: AsyncSession, *, settings: ConfirmationSettings, clock: Clock
) -> int:
    """Forget the keys of confirmations older than the setting; how many were forgotten."""
    before = clock.now() - timedelta(hours=settings.idempotency_keep_h)
    result = await session.execute(
        update(Confirmation)
        .where(
            Confirmation.created_at < before,
            ~Confirmation.idempotency_key.startswith(FORGOTTEN, autoescape=True),
        )
        .values(
            idempotency_key=literal(FORGOTTEN) + Confirmation.public_id,
            request_hash="",
            first_response={},
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount if isinstance(result, CursorResult) else 0


def forget_keys_handler(settings: ConfirmationSettings, clock: Clock) -> JobHandler:
    async def run(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            ForgetKeysPayload.model_validate(payload)
        except ValidationError:
            raise InvalidJob("forget-keys payload unusable") from None
        forgotten = await forget_keys(session, settings=settings, clock=clock)
        log.info(
            "idempotency keys older than %g h forgotten: %d", settings.idempotency_keep_h, forgotten
        )

    return run
