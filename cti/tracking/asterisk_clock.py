"""Asterisk's wall clock as seen from the CTI host.

Times in AMI events (``Timestamp``, ``LastCall``...) are on Asterisk's clock;
the CTI host's clock may be minutes or hours off. Comparing the two (is the
wrap-up over?) would end a wrap-up early or late by that difference. So
"now" on Asterisk's clock is the newest ``Timestamp`` seen plus the time the
host's *monotonic* clock has run since that event arrived: only durations of
the host are used, never its wall time. It lags Asterisk by the delivery delay
of that event (milliseconds).
"""

from __future__ import annotations

from cti.clock import Clock

__all__ = ["AsteriskClock"]


class AsteriskClock:
    """Asterisk's "now", learnt from the times it reports."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._at: float | None = None
        self._mono = 0.0

    def saw(self, at: float) -> None:
        """An event stamped ``at`` (its ``Timestamp``) arrives now."""
        self._at = at
        self._mono = self._clock.monotonic()

    def at_least(self, at: float) -> None:
        """Asterisk reported ``at`` as past (``LastCall``...): now is no earlier."""
        if at > self.now():
            self.saw(at)

    def now(self) -> float:
        """Asterisk's wall time; the host's wall time until Asterisk has said anything."""
        if self._at is None:
            return self._clock.time()
        return self._at + max(0.0, self._clock.monotonic() - self._mono)
