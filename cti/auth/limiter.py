"""Failed authentication is rate-limited per client address.

A token bucket per address: each wrong token takes one attempt out of it, and
attempts come back at a steady rate. While a bucket is empty every attempt from
that address is refused before the token is even looked at, so guessing costs
time, not a database query. Memory is bounded: at most ``max_clients`` buckets,
the least recently used dropped first, and a bucket that has filled up again is
forgotten. IPv6 clients are keyed by their /64, which one host usually owns whole.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

from cti.clock import Clock


@dataclass(slots=True)
class _Bucket:
    attempts: float
    at: float


def client_key(address: str | None) -> str:
    """The bucket an address counts against (its /64 for IPv6)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailedLogins:
    def __init__(
        self, *, burst: int, per_minute: float, clock: Clock, max_clients: int = 10_000
    ) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        now = self._clock.monotonic()
        bucket.attempts = min(self.burst, bucket.attempts + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.attempts >= self.burst:
            del self._buckets[key]
            return None
        return bucket

    def retry_after(self, address: str | None) -> float:
        """Seconds before ``address`` may try a token again; 0 when it may now."""
        bucket = self._refilled(client_key(address))
        if bucket is None or bucket.attempts >= 1:
            return 0.0
        return (1 - bucket.attempts) / self.rate

    def failed(self, address: str | None) -> None:
        """``address`` presented a wrong (unknown, revoked, malformed) token."""
        key = client_key(address)
        bucket = self._refilled(key)
        if bucket is None:
            bucket = _Bucket(self.burst, self._clock.monotonic())
            self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        bucket.attempts = max(0.0, bucket.attempts - 1)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
