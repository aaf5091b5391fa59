"""QA reviews of recordings: submitted once, never changed; corrections are new reviews.

A review copies the score sheet's criteria with the scores given, so a sheet changed
later never changes a past review, and copies the recording's agent and queue, so
averages need no join to the catalog's text columns. A correction names the review it
corrects (of the same recording); the corrected review stays on record but no longer
counts, and only a review nobody corrected yet can be corrected (else two "current"
reviews would stand for one).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cti.errors import Conflict, InvalidInput
from cti.recordings.ids import looks_like_id
from cti.recordings.models import Recording, Review
from cti.recordings.scoresheets import ScoreSheet

REVIEW_PREFIX = "rev_"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def new_review_id() -> str:
    """A random, opaque review id (``rev_`` and 26 base32 letters, 128 random bits)."""
    body = base64.b32encode(secrets.token_bytes(16)).decode("ascii").lower().rstrip("=")
    return REVIEW_PREFIX + body


def looks_like_review_id(value: str) -> bool:
    body = value[len(REVIEW_PREFIX) :]
    return value.startswith(REVIEW_PREFIX) and len(body) == 26 and all(c in _B32 for c in body)


async def recording_by_public_id(session: AsyncSession, public_id: str) -> Recording | None:
    """The catalog row of a recording id; None for a missing one or one of the wrong shape."""
    if not looks_like_id(public_id):
        return None
    return (
        await session.execute(select(Recording).where(Recording.public_id == public_id))
    ).scalar_one_or_none()


# --- submitting -------------------------------------------------------------------------


async def submit_review(
    session: AsyncSession,
    *,
    recording: Recording,
    sheet: ScoreSheet,
    scores: Mapping[str, int],
    comment: str,
    reviewer: str,
    corrects: str | None,
    now: datetime,
) -> Review:
    """Score ``recording`` by ``sheet``; with ``corrects``, replace that review of it.

    :class:`InvalidInput` for incomplete or out-of-range scores or a ``corrects`` that is
    no review of this recording; :class:`Conflict` when that review is corrected already.
    """
    problems = sheet.problems(scores)
    if problems:
        raise InvalidInput("; ".join(problems), details={"problems": problems})
    corrected: Review | None = None
    if corrects is not None:
        corrected = await _correctable(session, recording, corrects)
    review = Review(
        public_id=new_review_id(),
        recording_id=recording.id,
        sheet=sheet.id,
        criteria=[
            {
                "key": c.key,
                "label": c.label,
                "weight": c.weight,
                "max": c.max,
                "score": scores[c.key],
            }
            for c in sheet.criteria
        ],
        total=sheet.total(scores),
        comment=comment,
        reviewer=reviewer[:80],
        agent=recording.agent,
        queue=recording.queue,
        corrects_id=corrected.id if corrected is not None else None,
        created_at=now,
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError:
        if corrected is None:
            raise
        # Another correction of the same review got in first (the unique index).
        raise Conflict(f"review {corrects!r} is already corrected") from None
    return review


async def _correctable(session: AsyncSession, recording: Recording, public_id: str) -> Review:
    missing = InvalidInput(f"corrects: no review {public_id!r} of this recording")
    if not looks_like_review_id(public_id):
        raise missing
    # Locked (PostgreSQL), so of two corrections of one review sent at once the second
    # waits for the first and then sees it; SQLite writes nothing before the insert,
    # where the unique index on ``corrects_id`` refuses the second.
    target = (
        await session.execute(
            select(Review)
            .where(Review.public_id == public_id, Review.recording_id == recording.id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if target is None:
        raise missing
    by = (
        await session.execute(select(Review.public_id).where(Review.corrects_id == target.id))
    ).scalar_one_or_none()
    if by is not None:
        raise Conflict(
            f"review {public_id!r} is already corrected by {by!r}; correct that one instead",
            details={"corrected_by": by},
        )
    return target


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewView:
    """A review with the public ids it refers to."""

    review: Review
    recording_id: str
    corrects: str | None
    corrected_by: str | None

    @property
    def current(self) -> bool:
        """Counts in averages: nobody corrected it."""
        return self.corrected_by is None


def review_views(recording: Recording, reviews: Sequence[Review]) -> list[ReviewView]:
    by_id = {r.id: r for r in reviews}
    corrected_by = {r.corrects_id: r.public_id for r in reviews if r.corrects_id is not None}
    return [
        ReviewView(
            review=r,
            recording_id=recording.public_id,
            corrects=by_id[r.corrects_id].public_id if r.corrects_id in by_id else None,
            corrected_by=corrected_by.get(r.id),
        )
        for r in reviews
    ]


async def reviews_of(session: AsyncSession, recording: Recording) -> list[ReviewView]:
    """Every review of the recording, oldest first (a correction refers to an earlier one)."""
    rows = await session.execute(
        select(Review).where(Review.recording_id == recording.id).order_by(Review.id)
    )
    return review_views(recording, list(rows.scalars()))


class AverageBy(StrEnum):
    AGENT = "agent"
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class Average:
    key: str | None
    """The agent or queue as the recording names it (None: the recording had none)."""
    count: int
    average: float


def not_corrected() -> ColumnElement[bool]:
    later = aliased(Review)
    return ~exists().where(later.corrects_id == Review.id)


async def averages(
    session: AsyncSession,
    *,
    by: AverageBy,
    since: datetime | None,
    until: datetime | None,
) -> list[Average]:
    """Count and mean total of the current reviews whose recording started in
    ``[since, until)``, per agent or per queue."""
    key: Any = Review.agent if by is AverageBy.AGENT else Review.queue
    stmt = (
        select(key, func.count(Review.id), func.avg(Review.total))
        .join(Recording, Recording.id == Review.recording_id)
        .where(not_corrected())
        .group_by(key)
        .order_by(key)
    )
    if since is not None:
        stmt = stmt.where(Recording.started_at >= since)
    if until is not None:
        stmt = stmt.where(Recording.started_at < until)
    rows = await session.execute(stmt)
    return [Average(key=k, count=int(n), average=round(float(avg), 2)) for k, n, avg in rows.all()]
