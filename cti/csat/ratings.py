"""Ratings as durable jobs: what a caller pressed is never lost to a database outage.

The survey AGI app delivers :class:`~cti.events.CallRated` and waits; the
rating is in the jobs table or the local spool before the caller hears the
thanks, and the job writes it into ``csat_ratings``. The job key is the call's
Linkedid: a call is rated once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clock import Clock
from cti.csat.service import record_rating
from cti.events import CallRated
from cti.jobs.errors import InvalidJob
from cti.jobs.runner import JobHandler
from cti.jobs.spool import JobSpool, Submitted

RATING_JOB = "csat.rating"
_ID = r"^[0-9A-Za-z._-]{1,64}$"
_INTERFACE = r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@-]{1,64}$"


class RatingPayload(BaseModel):
    """The job's payload: one call's rating as plain JSON."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    linkedid: str = Field(pattern=_ID)
    uniqueid: str = Field(pattern=_ID)
    rating: int = Field(ge=1, le=5)
    agent: str | None = Field(default=None, pattern=_INTERFACE)
    queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    rated_at: AwareDatetime


def rating_key(linkedid: str) -> str:
    return f"csat:{linkedid}"


def rating_payload(rated: CallRated, at: datetime) -> dict[str, Any]:
    return RatingPayload(
        linkedid=rated.linkedid,
        uniqueid=rated.uniqueid,
        rating=rated.rating,
        agent=rated.agent,
        queue=rated.queue,
        rated_at=at,
    ).model_dump(mode="json")


async def submit_rating(spool: JobSpool, rated: CallRated, clock: Clock) -> Submitted:
    """Save the rating durably (table or spool); ``rated_at`` is now, not when the job runs."""
    return await spool.submit(
        RATING_JOB, rating_payload(rated, clock.now()), rating_key(rated.linkedid)
    )


RatedHook = Callable[[AsyncSession, str], Awaitable[None]]
"""Runs in the rating's transaction with the rated call's Linkedid (statistics' rollups)."""


def rating_handler(on_rated: RatedHook | None = None) -> JobHandler:
    async def write_rating(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            facts = RatingPayload.model_validate(payload)
        except ValidationError as exc:
            raise InvalidJob(f"rating payload unusable: {exc.error_count()} bad field(s)") from None
        stored = await record_rating(
            session,
            linkedid=facts.linkedid,
            uniqueid=facts.uniqueid,
            rating=facts.rating,
            agent=facts.agent,
            queue=facts.queue,
            rated_at=facts.rated_at,
        )
        if stored and on_rated is not None:
            await on_rated(session, facts.linkedid)

    return write_rating
