"""Today so far, for the live figures and the wallboard: the statistics' own definitions
over today's call records (business day in the business time zone, up to now)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.clock import Clock
from cti.queues.today import TodayFigures
from cti.stats.config import StatsSettings
from cti.stats.definitions import Interval
from cti.stats.service import StatsRequest, queue_stats


class StatsToday:
    """A :class:`cti.queues.today.TodaySoFar`: ``await today("hotline")``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: StatsSettings,
        timezone: str,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._timezone = timezone
        self._clock = clock

    async def __call__(self, queue: str) -> TodayFigures | None:
        now = self._clock.now()
        start = now.astimezone(ZoneInfo(self._timezone)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        async with self._sessions() as session:
            body = await queue_stats(
                session,
                StatsRequest(queue=queue, start=start, end=start + timedelta(days=1),
                             interval=Interval.DAY),
                settings=self._settings,
                timezone=self._timezone,
                now=now,
            )  # fmt: skip
        total = body["total"]
        return TodayFigures(
            offered=total["offered"],
            answered=total["answered"],
            abandoned=total["abandoned"],
            # Of the calls offered less short abandons: the figure a manager is judged by.
            service_level=total["service_level_of_offered"],
            threshold_s=body["sl_threshold_s"],
        )
