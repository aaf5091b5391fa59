"""Failed logins per client address: the bucket, its memory bound, IPv6 /64s."""

from __future__ import annotations

from cti.auth.limiter import FailedLogins
from cti.clock import FixedClock


def limiter(clock: FixedClock, max_clients: int = 10_000) -> FailedLogins:
    return FailedLogins(burst=3, per_minute=6, clock=clock, max_clients=max_clients)


def test_a_burst_then_one_attempt_every_ten_seconds() -> None:
    clock = FixedClock(0.0)
    fails = limiter(clock)
    for _ in range(3):
        assert fails.retry_after("127.0.0.9") == 0
        fails.failed("127.0.0.9")
    assert fails.retry_after("127.0.0.9") == 10
    assert fails.retry_after("127.0.0.10") == 0
    clock.advance(10)
    assert fails.retry_after("127.0.0.9") == 0
    fails.failed("127.0.0.9")
    assert fails.retry_after("127.0.0.9") == 10
    clock.advance(3600)  # full again: forgotten
    assert fails.retry_after("127.0.0.9") == 0
    assert len(fails) == 0


def test_memory_is_bounded_whatever_the_number_of_addresses() -> None:
    fails = limiter(FixedClock(0.0), max_clients=100)
    for n in range(5000):
        fails.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(fails) == 100


def test_an_ipv6_host_cannot_hop_addresses_within_its_64() -> None:
    fails = limiter(FixedClock(0.0))
    for n in range(3):
        fails.failed(f"2001:db8:1:2::{n + 1:x}")
    assert fails.retry_after("2001:db8:1:2:ffff::1") > 0
    assert fails.retry_after("2001:db8:1:3::1") == 0
    fails.failed("::ffff:127.0.0.5")  # an IPv4 address seen through an IPv6 socket
    assert len(fails) == 2
