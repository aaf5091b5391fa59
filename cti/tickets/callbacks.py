"""Callback tasks as durable jobs: every voicemail becomes exactly one callback ticket.

The voicemail AGI app hands its facts to :func:`submit_callback` before the
call leg ends; the job is in the database or in the local spool by then, so a
restart while the database is down loses nothing. The job key is the
voicemail's channel uniqueid: the same voicemail never becomes two tickets.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clock import Clock
from cti.customers.phones import PhoneNormalizer
from cti.jobs.errors import InvalidJob
from cti.jobs.runner import JobHandler
from cti.jobs.spool import JobSpool, Submitted
from cti.tickets.service import create_callback_ticket

CALLBACK_JOB = "tickets.callback"
REASONS = {"closed": "非工作时间", "holiday": "节假日", "busy": "坐席忙"}


class VoicemailFacts(Protocol):
    """What the voicemail app knows about a call (``ivr.voicemail.Voicemail``)."""

    @property
    def uniqueid(self) -> str: ...
    @property
    def linkedid(self) -> str | None: ...
    @property
    def caller_number(self) -> str | None: ...
    @property
    def caller_name(self) -> str | None: ...
    @property
    def dnis(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def recording_path(self) -> str | None: ...
    @property
    def left_message(self) -> bool: ...


class CallbackPayload(BaseModel):
    """The job's payload: the voicemail's facts as plain JSON."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    uniqueid: str
    linkedid: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    dnis: str | None = None
    reason: str = "busy"
    recording_path: str | None = None
    left_message: bool = False


def callback_key(uniqueid: str) -> str:
    return f"callback:{uniqueid}"


def callback_payload(message: VoicemailFacts) -> dict[str, Any]:
    return CallbackPayload(
        uniqueid=message.uniqueid,
        linkedid=message.linkedid,
        caller_number=message.caller_number,
        caller_name=message.caller_name,
        dnis=message.dnis,
        reason=message.reason,
        recording_path=message.recording_path,
        left_message=message.left_message,
    ).model_dump(mode="json")


def callback_note(facts: CallbackPayload) -> str:
    """The back desk's wording: what the caller left, why nobody answered, who called."""
    what = "客户语音留言" if facts.left_message else "客户未留言，需回电"
    why = REASONS.get(facts.reason, facts.reason)
    return f"{what}（{why}）；来电人：{facts.caller_name or '未知'}"


async def submit_callback(spool: JobSpool, message: VoicemailFacts) -> Submitted:
    """Save the callback task durably (table or spool) before the AGI call ends."""
    return await spool.submit(
        CALLBACK_JOB, callback_payload(message), callback_key(message.uniqueid)
    )


def callback_handler(phones: PhoneNormalizer, clock: Clock) -> JobHandler:
    """The job handler writing the ticket; ``phones`` links the caller to their customer."""

    async def write_callback_ticket(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            facts = CallbackPayload.model_validate(payload)
        except ValidationError as exc:
            bad = exc.error_count()
            raise InvalidJob(f"callback payload unusable: {bad} bad field(s)") from None
        await create_callback_ticket(
            session,
            phones=phones,
            caller_number=facts.caller_number,
            recording_path=facts.recording_path,
            linkedid=facts.linkedid,
            note=callback_note(facts),
            now=clock.now(),
        )

    return write_callback_ticket
