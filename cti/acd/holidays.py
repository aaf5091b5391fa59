"""Holidays and make-up working days (调休) of each hotline, in the database."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.acd.hours import parse_ranges
from cti.acd.models import HotlineDay
from cti.acd.policy import CalendarDay, DayKind
from cti.acd.schemas import HotlineDayIn, HotlineDayOut


def day_out(row: HotlineDay) -> HotlineDayOut:
    return HotlineDayOut(
        hotline=row.hotline,
        date=row.day,
        kind=DayKind(row.kind),
        name=row.name,
        hours=row.hours,
        updated_at=row.updated_at,
    )


def calendar_day(row: HotlineDay) -> CalendarDay:
    return CalendarDay(
        day=row.day,
        kind=DayKind(row.kind),
        name=row.name,
        hours=parse_ranges(row.hours) if row.hours is not None else None,
    )


async def get_day(session: AsyncSession, hotline: str, day: date) -> HotlineDay | None:
    stmt = select(HotlineDay).where(HotlineDay.hotline == hotline, HotlineDay.day == day)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_days(
    session: AsyncSession, hotline: str, since: date | None = None, until: date | None = None
) -> list[HotlineDay]:
    stmt = select(HotlineDay).where(HotlineDay.hotline == hotline)
    if since is not None:
        stmt = stmt.where(HotlineDay.day >= since)
    if until is not None:
        stmt = stmt.where(HotlineDay.day <= until)
    return list((await session.execute(stmt.order_by(HotlineDay.day))).scalars())


async def put_day(
    session: AsyncSession, hotline: str, day: date, data: HotlineDayIn, at: datetime
) -> tuple[HotlineDay, bool]:
    """Create or replace the entry of one day; True if it was created."""
    row = await get_day(session, hotline, day)
    created = row is None
    if row is None:
        row = HotlineDay(hotline=hotline, day=day)
        session.add(row)
    row.kind = data.kind.value
    row.name = data.name.strip()
    row.hours = data.hours
    row.updated_at = at
    await session.flush()
    return row, created


async def delete_day(session: AsyncSession, hotline: str, day: date) -> bool:
    result = await session.execute(
        delete(HotlineDay).where(HotlineDay.hotline == hotline, HotlineDay.day == day)
    )
    return bool(getattr(result, "rowcount", 0))


async def load_calendar(
    session: AsyncSession, first: date, last: date
) -> dict[str, dict[date, CalendarDay]]:
    """Every hotline's special days between ``first`` and ``last``, inclusive."""
    stmt = select(HotlineDay).where(HotlineDay.day >= first, HotlineDay.day <= last)
    out: dict[str, dict[date, CalendarDay]] = {}
    for row in (await session.execute(stmt)).scalars():
        out.setdefault(row.hotline, {})[row.day] = calendar_day(row)
    return out
