from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cti.customers.tiers import Tier


class PhoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    e164: str
    raw: str


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    tier: Tier | None
    """The explicit tier; None when it is derived from the order history."""
    phones: list[PhoneOut]
    last_agent: str | None
    last_call_at: datetime | None
