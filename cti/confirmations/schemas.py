"""A shop's request for a confirmation call, and what it sees of one."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cti.bounds import ONE_LINE
from cti.confirmations.config import MAX_ATTEMPTS_LIMIT
from cti.confirmations.models import IDEMPOTENCY_KEY_MAX, ConfirmationStatus
from cti.orders.schemas import ORDER_ID_RE
from cti.shops.rules import SHOP_ID_RE

AMOUNT_MAX = Decimal("10000000")
#: Printable ASCII: what an HTTP header carries safely and a log shows as it is.
IDEMPOTENCY_KEY_RE = rf"^[\x21-\x7e][\x20-\x7e]{{0,{IDEMPOTENCY_KEY_MAX - 1}}}$"
PUBLIC_ID_RE = r"^cfm_[a-z2-7]{26}$"


class ConfirmationReason(StrEnum):
    """Why the shop wants the order confirmed: the prompt says it in Mandarin."""

    HIGH_AMOUNT = "high_amount"
    INCOMPLETE_ADDRESS = "incomplete_address"
    SUSPECTED_DUPLICATE = "suspected_duplicate"
    OTHER = "other"


class ConfirmationIn(BaseModel):
    """``POST /api/v1/confirmations``."""

    model_config = ConfigDict(extra="forbid")

    shop: Annotated[str, StringConstraints(pattern=SHOP_ID_RE.pattern)] | None = Field(
        default=None,
        description="the order's shop; a shop's own token may leave it out (its shop)",
    )
    order_id: Annotated[str, StringConstraints(max_length=64, pattern=ORDER_ID_RE.pattern)]
    phone: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)
    ] = Field(description="the customer's number in any form, e.g. 138 0013 8000")
    amount: Decimal = Field(
        gt=0,
        le=AMOUNT_MAX,
        max_digits=10,
        decimal_places=2,
        description='the order\'s amount in yuan, a decimal string or number, e.g. "2300.50"',
        examples=["2300.50"],
    )
    item_count: int = Field(ge=1, le=9999)
    reason: ConfirmationReason
    reason_text: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=100, pattern=ONE_LINE)
    ] = Field(default="", description="a short note for agents (not read to the customer)")
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ATTEMPTS_LIMIT,
        description="how often to dial (busy, no answer); default CTI_CONFIRM_DEFAULT_MAX_ATTEMPTS",
    )


def facts_of(data: ConfirmationIn) -> dict[str, Any]:
    """What is read to the customer, as stored (``Confirmation.facts``)."""
    return {
        "amount": str(data.amount.quantize(Decimal("0.01"))),
        "item_count": data.item_count,
        "reason": data.reason.value,
        "reason_text": data.reason_text,
    }


def request_hash(shop: str, e164: str, data: ConfirmationIn) -> str:
    """SHA-256 of the request in canonical form: the same request written another way
    (``"100"`` or ``100.00``, ``138 0013 8000`` or ``+8613800138000``) is the same."""
    canonical = {
        "shop": shop,
        "order_id": data.order_id,
        "phone": e164,
        **facts_of(data),
        "max_attempts": data.max_attempts,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FactsOut(BaseModel):
    amount: Decimal
    item_count: int
    reason: ConfirmationReason
    reason_text: str = ""


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    n: int
    started_at: datetime
    ended_at: datetime | None
    result: str | None = Field(
        description="answered, busy, no_answer, failed, congestion, hangup (null: in progress)"
    )
    digit: str | None = Field(description="the key the customer pressed, if any")


class ConfirmationOut(BaseModel):
    id: str = Field(description="opaque, `cfm_` + 26 characters")
    shop: str
    order_id: str
    phone: str = Field(description="E.164")
    facts: FactsOut
    status: ConfirmationStatus
    attempts: int = Field(description="how often the customer was dialled so far")
    max_attempts: int
    next_attempt_at: datetime | None = Field(
        description="not before then (the shop's calling window and retries may delay it)"
    )
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    note: str | None = Field(default=None, description="why it ended early, in words")


class ConfirmationDetailOut(ConfirmationOut):
    attempt_log: list[AttemptOut] = Field(description="every dialling, first first")


class ConfirmationPage(BaseModel):
    items: list[ConfirmationOut]
    total: int
    limit: int
    offset: int
