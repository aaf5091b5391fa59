"""``GET /api/v1/queues/{name}/stats``: a queue's historical figures, as JSON or CSV."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import Timestamp
from cti.errors import InvalidInput
from cti.http.deps import ClockDep, SessionDep, SettingsDep, StatsSettingsDep, require_scope
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.stats.definitions import Interval
from cti.stats.erlang import (
    DEFAULT_MAX_OCCUPANCY,
    DEFAULT_SHRINKAGE,
    StaffingInput,
    staffing,
    staffing_json,
)
from cti.stats.schemas import QueueStatsOut
from cti.stats.service import StatsRequest, queue_stats, stats_csv

router = APIRouter(
    prefix="/api/v1/queues",
    tags=["statistics"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Reader = Annotated[Principal, Depends(require_scope(Scope.STATS_READ))]
QueueName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="queue name")]

Measure = Callable[[str, datetime, datetime, Interval], Awaitable[dict[str, Any]]]
"""A queue's statistics body from ``start`` to ``end`` per ``interval`` (:func:`queue_stats`)."""


def _measure(
    session: SessionDep, settings: SettingsDep, stats: StatsSettingsDep, clock: ClockDep
) -> Measure:
    async def measure(
        name: str, start: datetime, end: datetime, interval: Interval
    ) -> dict[str, Any]:
        return await queue_stats(
            session,
            StatsRequest(queue=name, start=start, end=end, interval=interval),
            settings=stats,
            timezone=settings.timezone,
            now=clock.now(),
        )

    return measure


MeasureDep = Annotated[Measure, Depends(_measure)]


@router.get(
    "/{name}/stats",
    summary="A queue's statistics per interval (JSON, or CSV with format=csv)",
    response_model=QueueStatsOut,
    response_model_by_alias=True,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def queue_statistics(
    _: Reader,
    name: QueueName,
    measure: MeasureDep,
    start: Annotated[
        Timestamp, Query(alias="from", description="first instant, with its time zone")
    ],
    end: Annotated[Timestamp, Query(alias="to", description="end of the period (excluded)")],
    interval: Annotated[
        Interval, Query(description="bucket length, in the business time zone")
    ] = Interval.HOUR,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv: the same figures, UTF-8, header row")
    ] = "json",
    part: Annotated[
        Literal["intervals", "agents"], Query(description="CSV only: which table")
    ] = "intervals",
) -> Any:
    body = await measure(name, start, end, interval)
    if format == "csv":
        filename = f"{name}-stats-{part}.csv"
        return Response(
            stats_csv(body, part),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return body


@router.get(
    "/{name}/staffing",
    summary="Agents needed for a service level, from the queue's measured load (Erlang C)",
    description="The arrival rate (offered calls per hour) and AHT (talk + wrap-up) are "
    "measured over `from`..`to` by the same definitions as `/stats`; Erlang C then gives "
    "the agents needed for `target_sl` within `threshold_s` at most `max_occupancy`, and "
    "for n-1, n and n+1 agents the probability of waiting, service level, ASA and "
    "occupancy. `scheduled_agents` adds `shrinkage`. A period without answered calls has "
    "no load to size: 422.",
)
async def queue_staffing(
    _: Reader,
    name: QueueName,
    measure: MeasureDep,
    start: Annotated[
        Timestamp, Query(alias="from", description="first instant of the measured period")
    ],
    end: Annotated[Timestamp, Query(alias="to", description="end of the measured period")],
    target_sl: Annotated[float, Query(gt=0, lt=1, description="e.g. 0.8 for 80%")] = 0.8,
    threshold_s: Annotated[float, Query(gt=0, le=3600)] = 20.0,
    max_occupancy: Annotated[float, Query(gt=0, le=1)] = DEFAULT_MAX_OCCUPANCY,
    shrinkage: Annotated[float, Query(ge=0, lt=1)] = DEFAULT_SHRINKAGE,
) -> dict[str, Any]:
    measured = await measure(name, start, end, Interval.DAY)
    total = measured["total"]
    hours = (end - start).total_seconds() / 3600
    if not total["offered"] or total["aht_s"] is None:
        raise InvalidInput(
            f"no answered calls in queue {name!r} from {measured['from']} to {measured['to']}:"
            " no load to size; choose a period with traffic"
        )
    result = staffing(
        StaffingInput(
            calls_per_hour=total["offered"] / hours,
            aht_s=total["aht_s"],
            target_sl=target_sl,
            threshold_s=threshold_s,
            max_occupancy=max_occupancy,
            shrinkage=shrinkage,
        )
    )
    return {
        "queue": name,
        "measured": {
            "from": measured["from"],
            "to": measured["to"],
            "offered": total["offered"],
            "aht_s": total["aht_s"],
        },
        **staffing_json(result),
    }
