"""``GET /api/v1/queues/{name}/stats``: a queue's historical figures, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import Timestamp
from cti.http.deps import ClockDep, SessionDep, SettingsDep, StatsSettingsDep, require_scope
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.stats.definitions import Interval
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
    session: SessionDep,
    settings: SettingsDep,
    stats: StatsSettingsDep,
    clock: ClockDep,
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
    body = await queue_stats(
        session,
        StatsRequest(queue=name, start=start, end=end, interval=interval),
        settings=stats,
        timezone=settings.timezone,
        now=clock.now(),
    )
    if format == "csv":
        filename = f"{name}-stats-{part}.csv"
        return Response(
            stats_csv(body, part),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return body
