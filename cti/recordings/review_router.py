"""QA: score sheets, reviews of recordings, averages per agent or queue, and the /qa page.

A review is final once submitted: there is no route to change or delete one; a
correction is a new review that names the one it replaces.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import Timestamp
from cti.calls.service import took_call
from cti.errors import InvalidInput, NotFound
from cti.http.deps import ClockDep, LiveCallsDep, RecordingsDep, SessionDep, require_any
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.recordings.review_schemas import (
    AverageOut,
    AveragesOut,
    ReviewIn,
    ReviewList,
    ReviewOut,
    ScoreSheetList,
    ScoreSheetOut,
)
from cti.recordings.reviews import (
    AverageBy,
    ReviewView,
    averages,
    recording_by_public_id,
    reviews_of,
    submit_review,
)

STATIC = FilePath(__file__).resolve().parent.parent / "static"

router = APIRouter(
    tags=["quality review"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

Reader = Annotated[Principal, Depends(require_any(Scope.RECORDINGS_READ))]
Reviewer = Annotated[Principal, Depends(require_any(Scope.RECORDINGS_WRITE))]
SheetReader = Annotated[
    Principal, Depends(require_any(Scope.RECORDINGS_READ, Scope.RECORDINGS_WRITE))
]
ReaderOrAgent = Annotated[Principal, Depends(require_any(Scope.RECORDINGS_READ, Scope.AGENT))]
# No pattern or length: an id of the wrong shape is 404 like an unknown one, not 422.
RecordingId = Annotated[str, Path(description="A recording's opaque id (`rec_...`).")]


def _no_recording() -> NotFound:
    # One answer for a malformed id, an unknown one and another agent's (as cti.recordings.router).
    return NotFound("no such recording")


@router.get(
    "/api/v1/qa/scoresheets",
    response_model=ScoreSheetList,
    summary="The QA score sheets: weighted criteria and the points each can get",
)
async def scoresheets(_: SheetReader, recordings: RecordingsDep) -> ScoreSheetList:
    return ScoreSheetList(sheets=[ScoreSheetOut.of(s) for s in recordings.sheets.all()])


@router.post(
    "/api/v1/recordings/{recording_id}/reviews",
    response_model=ReviewOut,
    status_code=201,
    summary="Submit a review of a recording (final; a correction is a new review)",
    description="Scope recordings:write. A score for every criterion of the sheet, no "
    "other. With `corrects`, the named earlier review of this recording stops counting "
    "(409 when it is corrected already). The reviewer is the token's name.",
    responses=error_responses(400, 404, 409),
)
async def review_create(
    recording_id: RecordingId,
    body: ReviewIn,
    who: Reviewer,
    recordings: RecordingsDep,
    clock: ClockDep,
    session: SessionDep,
) -> ReviewOut:
    async with session.begin():
        recording = await recording_by_public_id(session, recording_id)
        if recording is None:
            raise _no_recording()
        sheet = recordings.sheets.get(body.sheet)
        if sheet is None:
            known = ", ".join(s.id for s in recordings.sheets.all())
            raise InvalidInput(f"no score sheet {body.sheet!r}; known: {known}")
        review = await submit_review(
            session,
            recording=recording,
            sheet=sheet,
            scores=body.scores,
            comment=body.comment,
            reviewer=who.name,
            corrects=body.corrects,
            now=clock.now(),
        )
        return ReviewOut.of(ReviewView(review, recording.public_id, body.corrects, None))


@router.get(
    "/api/v1/recordings/{recording_id}/reviews",
    response_model=ReviewList,
    summary="The reviews of a recording, oldest first, corrected ones marked",
    description="Scope recordings:read; an agent token sees the reviews of its own "
    "calls' recordings only (another's is 404).",
    responses=error_responses(404),
)
async def review_index(
    recording_id: RecordingId, who: ReaderOrAgent, live_calls: LiveCallsDep, session: SessionDep
) -> ReviewList:
    recording = await recording_by_public_id(session, recording_id)
    # Whoever may see a recording may read its reviews: an agent, those of calls it took.
    mine = who.own_extension(Scope.RECORDINGS_READ)
    if recording is None or (
        mine is not None and not await took_call(session, live_calls, recording.linkedid, mine)
    ):
        raise _no_recording()
    return ReviewList(items=[ReviewOut.of(v) for v in await reviews_of(session, recording)])


@router.get(
    "/api/v1/qa/averages",
    response_model=AveragesOut,
    summary="Average review total per agent or queue over a period",
    description="Current (not corrected) reviews of recordings that started in "
    "[from, to), per agent or queue: how many and their mean total (0-100).",
)
async def review_averages(
    _: Reader,
    session: SessionDep,
    by: AverageBy = AverageBy.AGENT,
    since: Annotated[
        Timestamp | None, Query(alias="from", description="recordings started at or after")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(alias="to", description="recordings started before")
    ] = None,
) -> AveragesOut:
    if since is not None and until is not None and until <= since:
        raise InvalidInput("'to' must be after 'from'")
    rows = await averages(session, by=by, since=since, until=until)
    return AveragesOut(by=by, since=since, until=until, items=[AverageOut.of(a) for a in rows])


@router.get("/qa", include_in_schema=False)
async def qa_page() -> FileResponse:
    return FileResponse(STATIC / "qa.html", media_type="text/html; charset=utf-8")
