"""Customer tiers: the one definition used by shops' orders, customers and routing."""

from __future__ import annotations

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
