"""When the AMI bytes being handled were read from the socket.

The screen-pop's latency is measured from the moment the bytes of an ``AgentCalled``
were read to the moment its frame leaves on the agent's WebSocket: the protocol
stamps every read here (monotonic clock) before it decodes it, and whatever the
events of that read set off synchronously (tracker, bus, screen-pop hub) can ask
for the stamp. The keep-alive asks when anything was last read at all: a link that
carries events is alive even if a ``Ping`` waits behind them.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class AmiReceipt:
    """The read times of one AMI link (shared by its successive connections)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.read_at: float | None = None
        """The read being handled now; None outside one (events held for a resync and
        delivered later have no stamp: their bytes were read long before)."""
        self.last_read_at: float | None = None
        """The latest read of any bytes, on any connection of this link."""

    def now(self) -> float:
        """The clock the stamps are on (the host's monotonic clock: a read happens in
        real time, whatever clock the domain runs on)."""
        return self._clock()

    def reading(self) -> float:
        """Stamp a read that is about to be decoded and handled; returns its time."""
        self.read_at = self.last_read_at = self._clock()
        return self.read_at

    def done(self) -> None:
        """The read's events have all been handled."""
        self.read_at = None

    def silent_for(self) -> float | None:
        """Seconds since anything was read (None: nothing read yet)."""
        if self.last_read_at is None:
            return None
        return self._clock() - self.last_read_at
