"""Live queue figures (``GET /api/v1/queues``, ``.../{name}``) and the ``/wallboard`` page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.errors import NotFound
from cti.http.deps import QueueBoardDep, require_scope
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.queues.board import QueueBoard
from cti.queues.live import QueueNow
from cti.queues.schemas import QueueLiveOut, QueueOut, QueuePage, TodayOut, WaitingPointOut

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["queues"], route_class=AuthFirstRoute)

Reader = Annotated[Principal, Depends(require_scope(Scope.STATS_READ))]


class QueueNotFound(NotFound):
    pass


async def _out(board: QueueBoard, now: QueueNow) -> QueueOut:
    today = await board.today_so_far(now.queue)
    return QueueOut(
        **QueueLiveOut.of(now).model_dump(),
        today=None if today is None else TodayOut.of(today),
        day=board.series.day(),
        waiting_series=[WaitingPointOut.of(p) for p in board.waiting_series(now.queue)],
    )


@router.get(
    "/api/v1/queues",
    response_model=QueuePage,
    summary="Every queue now: waiting callers, longest wait, agents by state, today so far",
    responses=error_responses(401, 403),
)
async def queues_index(_: Reader, board: QueueBoardDep) -> QueuePage:
    return QueuePage(items=[await _out(board, now) for now in board.all_now()])


@router.get(
    "/api/v1/queues/{name}",
    response_model=QueueOut,
    summary="One queue now: waiting callers, longest wait, agents by state, today so far",
    responses=error_responses(401, 403, 404, 422),
)
async def queue_detail(name: str, _: Reader, board: QueueBoardDep) -> QueueOut:
    if not board.knows(name):
        raise QueueNotFound(f"no queue {name[:80]!r}: neither configured nor seen in Asterisk")
    return await _out(board, board.now(name))


@router.get("/wallboard", include_in_schema=False)
async def wallboard_page() -> FileResponse:
    return FileResponse(STATIC / "wallboard.html", media_type="text/html; charset=utf-8")
