"""Customer tiers, the one definition used by shops' orders, customers and routing,
and the profile (customer and order figures) a tier is derived from. Pure values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Tier(StrEnum):
    """Set by the shop, or derived from the order history (:func:`cti.acd.policy.derive_tier`)."""

    NEW = "new"
    RETURNING = "returning"
    VIP = "vip"


def stored_tier(value: str | None) -> Tier | None:
    """The tier stored in ``customers.tier``; None when unset or unknown (derive it instead)."""
    try:
        return Tier(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class OrderStats:
    order_count: int = 0
    """All the customer's orders, any status, any time."""
    recent_paid_count: int = 0
    """Paid orders in the tier window, in the tier currency."""
    recent_paid_total: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    customer_id: int
    name: str = ""
    tier: Tier | None = None
    """Explicit tier from the shop that brought the customer (or an operator); None:
    derived from ``stats``."""
    stats: OrderStats = field(default_factory=OrderStats)
    last_agent: str | None = None
    last_call_at: datetime | None = None
