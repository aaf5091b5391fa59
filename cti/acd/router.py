"""``/api/v1/hotlines/{hotline}/holidays``: holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from cti.acd import holidays
from cti.acd.schemas import HotlineDayIn, HotlineDayList, HotlineDayOut
from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import Day
from cti.errors import InvalidInput, NotFound
from cti.http.deps import ClockDep, HotlineDep, SessionDep, require_scope
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute

router = APIRouter(
    prefix="/api/v1/hotlines",
    tags=["hotlines"],
    responses=error_responses(401, 403, 404, 422),
    route_class=AuthFirstRoute,
)

Reader = Annotated[Principal, Depends(require_scope(Scope.STATS_READ))]
Supervisor = Annotated[Principal, Depends(require_scope(Scope.AGENTS_WRITE))]
HotlineParam = Annotated[str, Path(max_length=64, description="hotline name, e.g. hotline")]
DayParam = Annotated[Day, Path(description="the local date, e.g. 2026-10-01")]

_FIRST_YEAR, _LAST_YEAR = 2000, 2100


def _known_hotline(router: HotlineDep, hotline: str) -> str:
    known = router.hotline_names
    if hotline not in known:
        raise NotFound(f"no hotline {hotline!r}; known: {', '.join(sorted(known))}")
    return hotline


def _sane_day(day: date) -> date:
    if not _FIRST_YEAR <= day.year <= _LAST_YEAR:
        raise InvalidInput(f"invalid date: {day.isoformat()} is not between 2000 and 2100")
    return day


@router.get("/{hotline}/holidays", response_model=HotlineDayList, summary="Special days")
async def list_holidays(
    hotline: HotlineParam,
    _: Reader,
    hotlines: HotlineDep,
    session: SessionDep,
    since: Annotated[Day | None, Query(alias="from", description="first date")] = None,
    until: Annotated[Day | None, Query(alias="to", description="last date")] = None,
) -> HotlineDayList:
    name = _known_hotline(hotlines, hotline)
    rows = await holidays.list_days(session, name, since, until)
    return HotlineDayList(hotline=name, items=[holidays.day_out(r) for r in rows])


@router.get("/{hotline}/holidays/{day}", response_model=HotlineDayOut, summary="One special day")
async def get_holiday(
    hotline: HotlineParam, day: DayParam, _: Reader, hotlines: HotlineDep, session: SessionDep
) -> HotlineDayOut:
    name = _known_hotline(hotlines, hotline)
    row = await holidays.get_day(session, name, _sane_day(day))
    if row is None:
        raise NotFound(f"{day.isoformat()} is not a special day of hotline {name!r}")
    return holidays.day_out(row)


@router.put(
    "/{hotline}/holidays/{day}",
    response_model=HotlineDayOut,
    summary="Set a holiday or a make-up working day",
    responses={201: {"model": HotlineDayOut, "description": "created"}, **error_responses(400)},
)
async def put_holiday(
    hotline: HotlineParam,
    day: DayParam,
    body: HotlineDayIn,
    _: Supervisor,
    hotlines: HotlineDep,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
) -> HotlineDayOut:
    name = _known_hotline(hotlines, hotline)
    async with session.begin():
        row, created = await holidays.put_day(session, name, _sane_day(day), body, clock.now())
        out = holidays.day_out(row)
    hotlines.invalidate_calendar()
    response.status_code = 201 if created else 200
    return out


@router.delete("/{hotline}/holidays/{day}", status_code=204, summary="Remove a special day")
async def delete_holiday(
    hotline: HotlineParam,
    day: DayParam,
    _: Supervisor,
    hotlines: HotlineDep,
    session: SessionDep,
) -> Response:
    name = _known_hotline(hotlines, hotline)
    async with session.begin():
        removed = await holidays.delete_day(session, name, _sane_day(day))
    if not removed:
        raise NotFound(f"{day.isoformat()} is not a special day of hotline {name!r}")
    hotlines.invalidate_calendar()
    return Response(status_code=204)
