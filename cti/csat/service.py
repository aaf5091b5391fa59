"""Ratings stored once per call, and the CSAT figures over them.

The figures count every stored rating in ``[since, until)`` of its ``rated_at``
(when the caller pressed the key): average and distribution 1..5, grouped by the
agent who took the call or by its queue. A call has at most one rating.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.csat.models import CsatRating

RATINGS = (1, 2, 3, 4, 5)
GroupBy = Literal["agent", "queue"]


@dataclass(frozen=True, slots=True)
class CsatFigures:
    """The ratings of one agent or queue (``key``; None: ratings that name none)."""

    key: str | None
    count: int
    average: float | None
    """Mean rating to 2 decimals; None without ratings."""
    distribution: dict[int, int]
    """How many calls got each rating, every one of 1..5 present."""


def figures(key: str | None, counts: Mapping[int, int]) -> CsatFigures:
    """Figures from ``{rating: calls}``; ratings outside 1..5 are not ratings."""
    distribution = {r: int(counts.get(r, 0)) for r in RATINGS}
    count = sum(distribution.values())
    total = sum(r * n for r, n in distribution.items())
    return CsatFigures(
        key=key,
        count=count,
        average=round(total / count, 2) if count else None,
        distribution=distribution,
    )


async def record_rating(
    session: AsyncSession,
    *,
    linkedid: str,
    uniqueid: str,
    rating: int,
    agent: str | None,
    queue: str | None,
    rated_at: datetime,
) -> bool:
    """Store a call's rating; False (and nothing changes) when the call already has one.

    The first rating stays: a retried job, or a second survey on the same call
    (a transferred caller), does not replace what the caller said first.
    """
    if rating not in RATINGS:
        raise ValueError(f"a rating is 1..5, not {rating!r}")
    found = await session.scalar(select(CsatRating.id).where(CsatRating.linkedid == linkedid))
    if found is not None:
        return False
    session.add(
        CsatRating(
            linkedid=linkedid,
            uniqueid=uniqueid,
            rating=rating,
            agent=agent,
            queue=queue,
            rated_at=rated_at,
        )
    )
    await session.flush()
    return True


async def call_rating(session: AsyncSession, linkedid: str) -> int | None:
    """The call's rating, or None (not rated, survey off, caller gone)."""
    value = await session.scalar(select(CsatRating.rating).where(CsatRating.linkedid == linkedid))
    return None if value is None else int(value)


async def csat_summary(
    session: AsyncSession,
    *,
    by: GroupBy,
    since: datetime,
    until: datetime,
    agents: Sequence[str] | None = None,
    queues: Sequence[str] | None = None,
) -> list[CsatFigures]:
    """CSAT per agent or per queue of the ratings given in ``[since, until)``.

    ``agents``/``queues`` narrow the ratings to those names (None: all). Groups
    come sorted by key, the group without a name (None) last.
    """
    if by not in ("agent", "queue"):
        raise ValueError(f"CSAT is grouped by agent or queue, not {by!r}")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    column = CsatRating.agent if by == "agent" else CsatRating.queue
    stmt = (
        select(column, CsatRating.rating, func.count(CsatRating.id))
        .where(CsatRating.rated_at >= since, CsatRating.rated_at < until)
        .group_by(column, CsatRating.rating)
    )
    if agents is not None:
        stmt = stmt.where(CsatRating.agent.in_(list(agents)))
    if queues is not None:
        stmt = stmt.where(CsatRating.queue.in_(list(queues)))
    grouped: dict[str | None, dict[int, int]] = {}
    for key, rating, count in (await session.execute(stmt)).all():
        grouped.setdefault(key, {})[int(rating)] = int(count)
    keys = sorted(grouped, key=lambda k: (k is None, k or ""))
    return [figures(k, grouped[k]) for k in keys]


async def csat_total(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    agents: Sequence[str] | None = None,
    queues: Sequence[str] | None = None,
) -> CsatFigures:
    """All matching ratings as one group (an agent known by several names: ``agents``)."""
    counts: dict[int, int] = {}
    for group in await csat_summary(
        session, by="agent", since=since, until=until, agents=agents, queues=queues
    ):
        for rating, n in group.distribution.items():
            counts[rating] = counts.get(rating, 0) + n
    return figures(None, counts)
