"""``/api/v1/recordings``: search, one recording with its call's timeline, playback, deletion.

Ids are opaque (``rec_`` and 26 base32 characters, an HMAC of the call and segment):
a path that does not look like one is 404 before any lookup, as is another agent's
recording, so guessing teaches nothing. Files are found by catalog row only.

Playback (``GET``/``HEAD .../audio``) takes a bearer token, or instead the
``expires`` and ``signature`` of a short-lived link from ``POST .../link``: an audio
element cannot send a header, and a token never goes into a URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import formatdate
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from cti.auth.scopes import Scope
from cti.auth.tokens import Principal
from cti.bounds import ONE_LINE, Offset, Timestamp
from cti.calls.service import get_call, took_call
from cti.errors import Conflict, DomainError, Gone, NotFound, Unauthorized
from cti.http.deps import (
    BearerCredentials,
    ClockDep,
    LiveCallsDep,
    PhonesDep,
    RecordingsDep,
    SessionDep,
    require_any,
    require_scope,
)
from cti.http.errors import error_responses
from cti.http.routing import AuthFirstRoute
from cti.recordings.ids import link_signature, link_valid, looks_like_id
from cti.recordings.models import Recording, RecordingStatus
from cti.recordings.playback import chunks, media_type, open_catalogued
from cti.recordings.ranges import (
    RangeNotSatisfiable,
    none_match,
    parse_range,
    range_applies,
    strong_etag,
)
from cti.recordings.schemas import PlaybackLinkOut, RecordingDetailOut, RecordingPage
from cti.recordings.service import (
    LiveTimelines,
    RecordingFilter,
    being_written,
    get_recording,
    list_recordings,
    recording_out,
    remove_recording,
)

router = APIRouter(
    prefix="/api/v1/recordings",
    tags=["recordings"],
    responses=error_responses(401, 403, 422),
    route_class=AuthFirstRoute,
)

_reader = require_any(Scope.RECORDINGS_READ, Scope.AGENT)
Reader = Annotated[Principal, Depends(_reader)]
Writer = Annotated[Principal, Depends(require_scope(Scope.RECORDINGS_WRITE))]
# No pattern or length here: a malformed id is a 404 like any unknown one, not a 422.
RecordingId = Annotated[str, Path(description="A recording's opaque id (`rec_...`).")]

RETRY_AFTER_S = 10
"""What a client is told to wait for a recording still being written."""


def mine(principal: Principal) -> str | None:
    """The agent whose calls' recordings alone this token reaches; None: all of them."""
    return principal.own_extension(Scope.RECORDINGS_READ)


def _missing() -> NotFound:
    # One answer for a malformed id, an unknown one and another agent's.
    return NotFound("no such recording")


async def _catalogued(
    session: AsyncSession,
    key: bytes,
    live: LiveTimelines,
    public_id: str,
    own: str | None,
) -> tuple[Recording, bool]:
    """The catalog row (any status) and whether it is reviewed; 404, or 409 while the
    recording is still being written."""
    if not looks_like_id(public_id):
        raise _missing()
    found = await get_recording(session, public_id)
    if found is not None:
        if own is None or await took_call(session, live, found[0].linkedid, own):
            return found
        raise _missing()
    writing = await being_written(session, key, live, public_id)
    if writing is not None and (
        own is None
        or (writing.linkedid is not None and await took_call(session, live, writing.linkedid, own))
    ):
        raise Conflict(
            "the recording is still being written; it can be played once the call has "
            "ended and the file is catalogued",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    raise _missing()


def _available(row: Recording) -> None:
    if row.status != RecordingStatus.AVAILABLE.value:
        raise Gone(f"the recording is {row.status}")


# --- search and detail ---------------------------------------------------------------------


@router.get(
    "",
    response_model=RecordingPage,
    summary="Search recordings, newest first",
    description="An agent token finds only the recordings of calls it took.",
)
async def recordings_index(
    who: Reader,
    live_calls: LiveCallsDep,
    phones: PhonesDep,
    session: SessionDep,
    since: Annotated[
        Timestamp | None, Query(alias="from", description="started at or after")
    ] = None,
    until: Annotated[Timestamp | None, Query(alias="to", description="started before")] = None,
    agent: Annotated[str | None, Query(max_length=80, pattern=ONE_LINE)] = None,
    caller: Annotated[
        str | None,
        Query(max_length=64, pattern=ONE_LINE, description="the caller's number in any form"),
    ] = None,
    order_id: Annotated[str | None, Query(max_length=64, pattern=ONE_LINE)] = None,
    queue: Annotated[str | None, Query(max_length=80, pattern=ONE_LINE)] = None,
    direction: Literal["inbound", "outbound"] | None = None,
    min_duration_s: Annotated[
        float | None, Query(ge=0, le=86400, allow_inf_nan=False, description="seconds")
    ] = None,
    reviewed: Annotated[
        bool | None, Query(description="has a review that no later review corrects")
    ] = None,
    status: RecordingStatus = RecordingStatus.AVAILABLE,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> RecordingPage:
    callers: tuple[str, ...] = ()
    if caller and caller.strip():
        # Stored normalised (E.164) when it parses, else as Asterisk gave it.
        raw = caller.strip()
        callers = tuple(dict.fromkeys(c for c in (phones.e164(raw), raw) if c))
    f = RecordingFilter(
        since=since,
        until=until,
        agent=agent,
        callers=callers,
        order_id=order_id,
        queue=queue,
        direction=direction,
        min_duration_s=min_duration_s,
        reviewed=reviewed,
        status=status.value,
    )
    own = mine(who)
    items, total = await list_recordings(
        session,
        f,
        limit=limit,
        offset=offset,
        own=None if own is None else (own, live_calls),
    )
    return RecordingPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{recording_id}",
    response_model=RecordingDetailOut,
    summary="One recording, with its call's timeline",
    responses=error_responses(404, 409),
)
async def recording_detail(
    recording_id: RecordingId,
    who: Reader,
    live_calls: LiveCallsDep,
    recordings: RecordingsDep,
    session: SessionDep,
) -> RecordingDetailOut:
    async with session.begin():
        row, reviewed = await _catalogued(
            session, recordings.key, live_calls, recording_id, mine(who)
        )
        call = live_calls.get(row.linkedid) or await get_call(session, row.linkedid)
    return RecordingDetailOut(
        **recording_out(row, reviewed).model_dump(),
        timeline=call.timeline if call is not None else [],
    )


# --- playback --------------------------------------------------------------------------------


@router.post(
    "/{recording_id}/link",
    response_model=PlaybackLinkOut,
    summary="A short-lived signed playback link",
    description="For an audio element, which cannot send a token: the link's URL plays "
    "this recording without one until `expires_at` (`CTI_RECORDINGS_LINK_TTL_S`).",
    responses=error_responses(404, 409, 410),
)
async def recording_link(
    recording_id: RecordingId,
    who: Reader,
    live_calls: LiveCallsDep,
    recordings: RecordingsDep,
    clock: ClockDep,
    session: SessionDep,
) -> PlaybackLinkOut:
    async with session.begin():
        row, _ = await _catalogued(session, recordings.key, live_calls, recording_id, mine(who))
    _available(row)
    expires = int(clock.time()) + recordings.settings.link_ttl_s
    query = urlencode(
        {"expires": expires, "signature": link_signature(recordings.key, row.public_id, expires)}
    )
    return PlaybackLinkOut(
        url=f"{router.prefix}/{row.public_id}/audio?{query}",
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


_LINK_PARAM_MAX = 128


async def audio_access(
    request: Request,
    recording_id: RecordingId,
    credentials: BearerCredentials,
    recordings: RecordingsDep,
    clock: ClockDep,
    expires: Annotated[
        str | None, Query(description="from a signed link (`POST .../link`), with `signature`")
    ] = None,
    signature: Annotated[
        str | None, Query(description="from a signed link (`POST .../link`), with `expires`")
    ] = None,
) -> Principal | None:
    """A bearer token (the route's scopes), or else a valid, unexpired link for this id
    (None). Neither: 401. A bad link is 401 whatever its shape, never a 422 that would
    tell its parts apart."""
    if "authorization" in request.headers or (expires is None and signature is None):
        return await _reader(request, credentials)
    valid = (
        expires is not None
        and signature is not None
        and expires.isdigit()
        and len(expires) <= 12
        and len(signature) <= _LINK_PARAM_MAX
        and link_valid(recordings.key, recording_id, int(expires), signature, clock.time())
    )
    if not valid:
        raise Unauthorized(
            "the playback link is invalid or has expired; ask for a new one "
            "(POST /api/v1/recordings/{id}/link)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None


AudioAccess = Annotated[Principal | None, Depends(audio_access)]

_BYTES = {"schema": {"type": "string", "format": "binary"}}
_AUDIO: dict[str, Any] = {"audio/wav": _BYTES, "audio/ogg": _BYTES}
_AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the whole file (also when several ranges are asked)", "content": _AUDIO},
    206: {"description": "the one byte range asked for (`Content-Range`)", "content": _AUDIO},
    304: {"description": "`If-None-Match` names the file's ETag"},
    **error_responses(404, 409, 410, 416),
}


async def recording_audio(
    recording_id: RecordingId,
    request: Request,
    access: AudioAccess,
    live_calls: LiveCallsDep,
    recordings: RecordingsDep,
    session: SessionDep,
) -> Response:
    own = None if access is None else mine(access)
    async with session.begin():  # ended before streaming: no connection held meanwhile
        row, _ = await _catalogued(session, recordings.key, live_calls, recording_id, own)
    _available(row)
    opened = open_catalogued(recordings.store, row.path, row.size_bytes)
    etag = strong_etag(row.sha256)
    last_modified = formatdate(opened.mtime, usegmt=True)
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private",
    }
    if none_match(request.headers.get("if-none-match"), etag):
        opened.close()
        return Response(status_code=304, headers=headers)
    byte_range = None
    if range_applies(request.headers.get("if-range"), etag, last_modified):
        try:
            byte_range = parse_range(request.headers.get("range"), opened.size)
        except RangeNotSatisfiable as exc:
            opened.close()
            raise DomainError(
                str(exc), status=416, headers={"Content-Range": f"bytes */{opened.size}"}
            ) from None
    start, length, status = 0, opened.size, 200
    if byte_range is not None:
        start, length, status = byte_range.start, byte_range.length, 206
        headers["Content-Range"] = byte_range.content_range(opened.size)
    headers["Content-Length"] = str(length)
    kind = media_type(row.format)
    if request.method == "HEAD":
        opened.close()
        return Response(status_code=status, headers=headers, media_type=kind)
    return StreamingResponse(
        chunks(opened, start, length), status_code=status, headers=headers, media_type=kind
    )


_AUDIO_DOC = (
    "With `Authorization: Bearer` (scope `recordings:read`, or `agent` for the calls it "
    "took), or with the `expires` and `signature` of a link from `POST .../link`. One "
    "`Range: bytes=a-b`, `a-` or `-n` is answered 206; a range past the end 416; several "
    "ranges get the whole file (200). `If-None-Match` with the ETag (the file's SHA-256) "
    "is 304. A recording still being written is 409 (`Retry-After`), a deleted or "
    "missing file 410."
)
for _method in ("GET", "HEAD"):
    router.add_api_route(
        "/{recording_id}/audio",
        recording_audio,
        methods=[_method],
        name=f"recording_audio_{_method.lower()}",
        summary="Play a recording (HTTP Range)" + (", headers only" if _method == "HEAD" else ""),
        description=_AUDIO_DOC,
        response_class=Response,
        responses=_AUDIO_RESPONSES,
    )


# --- deletion --------------------------------------------------------------------------------


@router.delete(
    "/{recording_id}",
    status_code=204,
    summary="Delete a recording's file; its row stays, marked deleted",
    responses=error_responses(404, 409, 410),
)
async def recording_delete(
    recording_id: RecordingId,
    _: Writer,
    live_calls: LiveCallsDep,
    recordings: RecordingsDep,
    clock: ClockDep,
    session: SessionDep,
) -> Response:
    async with session.begin():
        row, _reviewed = await _catalogued(session, recordings.key, live_calls, recording_id, None)
        await remove_recording(session, recordings.store, row, clock.now())
    return Response(status_code=204)
