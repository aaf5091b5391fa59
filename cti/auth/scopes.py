"""The scopes a bearer token can carry (DESIGN.md, HTTP surface)."""

from enum import StrEnum


class Scope(StrEnum):
    ORDERS_WRITE = "orders:write"
    CALLS_ORIGINATE = "calls:originate"
    RECORDINGS_READ = "recordings:read"
    RECORDINGS_WRITE = "recordings:write"
    STATS_READ = "stats:read"
    AGENTS_WRITE = "agents:write"
    TICKETS_WRITE = "tickets:write"
    AGENT = "agent"


ALL_SCOPES = frozenset(s.value for s in Scope)

SHOP_SCOPES = frozenset({Scope.ORDERS_WRITE.value, Scope.CALLS_ORIGINATE.value})
"""What a shop backend does; a token bound to a shop (``--shop``) carries only these."""
