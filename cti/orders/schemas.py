"""What a shop backend sends for one order, and what it gets back."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from cti.bounds import MULTI_LINE, ONE_LINE, Timestamp
from cti.customers.tiers import Tier

ORDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
ORDER_ID_HINT = "1-64 characters: letters, digits and _ . : - (first a letter or digit)"

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


def _printable(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    name: Text = ""
    tier: Tier | None = Field(
        default=None, description="set by the shop; omitted: derived from the order history"
    )

    _name_printable = field_validator("name")(_printable)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE),
    ]
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE),
    ]
    qty: Annotated[int, Field(ge=1, le=100_000)]
    price: Money

    _printable = field_validator("sku", "name")(_printable)


class OrderIn(BaseModel):
    """``PUT /api/v1/orders/{order_id}``: the whole order, as the shop has it now."""

    model_config = ConfigDict(extra="forbid")

    shop: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ]
    customer: CustomerIn
    items: Annotated[list[ItemIn], Field(max_length=500)] = Field(default_factory=list)
    amount: Money
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(
        default="CNY", description="ISO 4217 code, e.g. CNY"
    )
    status: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,31}$")] = Field(
        description="the shop's order status, e.g. paid, shipped, delivered, cancelled"
    )
    created_at: Timestamp
    updated_at: Timestamp
    shipping_address: str | dict[str, Any] | None = None

    @field_validator("shipping_address")
    @classmethod
    def _small_address(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and len(value) > 500:
                raise ValueError("at most 500 characters")
            if value is not None and not re.fullmatch(MULTI_LINE, value):
                raise ValueError("must not contain control characters")
        elif isinstance(value, dict) and len(repr(value)) > 2000:
            raise ValueError("address object too large (at most 2000 characters)")
        if _has_nul(value):  # no database stores a NUL in text
            raise ValueError("must not contain NUL characters")
        return value

    @model_validator(mode="after")
    def _times_in_order(self) -> OrderIn:
        if self.updated_at < self.created_at:
            raise ValueError("updated_at is before created_at")
        return self


class OrderLine(OrderIn):
    """One line of an NDJSON import: an order with its ``order_id``."""

    order_id: Annotated[str, StringConstraints(pattern=ORDER_ID_RE.pattern)]


class OrderItemOut(BaseModel):
    sku: str
    name: str
    qty: int
    price: Decimal


class OrderOut(BaseModel):
    order_id: str
    shop: str
    customer_id: int
    amount: Decimal
    currency: str
    status: str
    items: list[OrderItemOut]
    shipping_address: str | dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class RejectedLine(BaseModel):
    line: int
    reason: str


class ImportReport(BaseModel):
    lines: int = 0
    """Non-empty lines read."""
    imported: int = 0
    """Orders inserted or updated."""
    skipped_stale: int = 0
    """Orders whose stored copy was newer (``updated_at``), left as they were."""
    rejected: int = 0
    rejected_lines: list[RejectedLine] = Field(default_factory=list)
    rejected_lines_truncated: bool = False
