"""The one clock of the service, injected wherever time is read.

Production code never calls ``datetime.now``/``time.time`` itself; it is handed a
:class:`Clock` built once by the composition root, so tests can pin time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall-clock time."""
        ...

    def time(self) -> float:
        """Wall-clock time as a Unix timestamp (seconds)."""
        ...

    def monotonic(self) -> float:
        """A clock that never goes back, for durations and timeouts."""
        ...


class SystemClock:
    """The host's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock that moves only when told to (tests, replays)."""

    def __init__(self, at: datetime | float, monotonic: float = 1000.0) -> None:
        self._t = at.timestamp() if isinstance(at, datetime) else float(at)
        self._mono = monotonic

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def time(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._t += seconds
        self._mono += seconds

    def set(self, at: datetime | float) -> None:
        new = at.timestamp() if isinstance(at, datetime) else float(at)
        self._mono += max(0.0, new - self._t)
        self._t = new


SYSTEM_CLOCK = SystemClock()
"""Stateless; shared as the default when a caller does not inject one."""
