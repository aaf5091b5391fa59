"""Today's offered / answered / abandoned / service level of a queue: a seam, not a definition.

The one definition of these figures over call records lives in :mod:`cti.stats`
(historical statistics); the live figures only ask it for "today so far" through
:class:`TodaySoFar`, so the wallboard and the reports can never disagree. Until
the composition root wires the real one, :func:`not_wired` answers ``None`` and
the API and wallboard show the figures as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["TodayFigures", "TodaySoFar", "not_wired"]


@dataclass(frozen=True, slots=True)
class TodayFigures:
    """A queue's figures from the start of the business day (Asia/Shanghai) until now."""

    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    """Fraction 0..1 as :mod:`cti.stats` defines it; None when no call counts yet."""
    threshold_s: float | None = None
    """The service-level threshold the figure was measured with (e.g. 20 s)."""


class TodaySoFar(Protocol):
    """``await today("hotline")`` -> that queue's figures so far today (may read the database)."""

    async def __call__(self, queue: str) -> TodayFigures | None: ...


async def not_wired(queue: str) -> TodayFigures | None:
    """The stand-in until the statistics are wired: nothing known."""
    return None
