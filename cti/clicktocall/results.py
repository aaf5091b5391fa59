"""A click-to-call's end: its row settled, and the ticket it was made from told.

The tracker's end of the call becomes one durable job (key ``agentcall:<id>``),
so the result reaches the ticket's history even if the database is down when
the call ends or the service restarts before it is written.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.clicktocall.config import ClickToCallSettings
from cti.clicktocall.models import FINAL, AgentCall, AgentCallStatus
from cti.clock import Clock
from cti.jobs.errors import InvalidJob
from cti.jobs.runner import JobHandler
from cti.jobs.spool import JobSpool, Submitted
from cti.tickets.models import Ticket
from cti.tickets.service import record_call
from cti.tracking.events import CallSummary

RESULT_JOB = "clicktocall.result"

# How dialling the customer ended (Dial's DIALSTATUS) -> the call's result.
_DIAL_STATUS = {
    "ANSWER": AgentCallStatus.ANSWERED,
    "BUSY": AgentCallStatus.BUSY,
    "NOANSWER": AgentCallStatus.NO_ANSWER,
    "CANCEL": AgentCallStatus.CANCELLED,
}
_WORDS = {
    AgentCallStatus.ANSWERED: "已接通",
    AgentCallStatus.BUSY: "客户忙线",
    AgentCallStatus.NO_ANSWER: "客户未接听",
    AgentCallStatus.CANCELLED: "坐席在客户接听前挂断",
    AgentCallStatus.FAILED: "呼叫失败",
    AgentCallStatus.AGENT_NO_ANSWER: "坐席话机未接听，未呼叫客户",
}


class CallEnd(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    call_id: str = Field(max_length=64)
    customer_dial: str | None = Field(default=None, max_length=20)
    talk_s: float | None = Field(default=None, ge=0)
    ended_at: datetime


def status_of(customer_dial: str | None) -> AgentCallStatus:
    if customer_dial is None:
        return AgentCallStatus.AGENT_NO_ANSWER
    return _DIAL_STATUS.get(customer_dial, AgentCallStatus.FAILED)


def describe(status: AgentCallStatus, phone: str, talk_s: float | None) -> str:
    words = _WORDS[status]
    if status is AgentCallStatus.ANSWERED and talk_s is not None:
        words += f"，通话 {round(talk_s)} 秒"
    return f"回拨 {phone}：{words}"


async def submit_end(spool: JobSpool, summary: CallSummary, ended_at: datetime) -> Submitted:
    payload = CallEnd(
        call_id=summary.linkedid,
        customer_dial=summary.customer_dial,
        talk_s=summary.talk_s,
        ended_at=ended_at,
    ).model_dump(mode="json")
    return await spool.submit(RESULT_JOB, payload, f"agentcall:{summary.linkedid}")


async def agent_call(session: AsyncSession, call_id: str) -> AgentCall | None:
    found: AgentCall | None = await session.scalar(
        select(AgentCall).where(AgentCall.call_id == call_id)
    )
    return found


async def apply_end(
    session: AsyncSession, end: CallEnd, settings: ClickToCallSettings, now: datetime
) -> None:
    """Settle the call ``end`` tells of, once, and write it on its ticket."""
    row = await agent_call(session, end.call_id)
    if row is None or AgentCallStatus(row.status) in FINAL:
        return  # not ours (another kind of outbound call), or settled already
    status = status_of(end.customer_dial)
    row.status = status.value
    row.customer_dial = end.customer_dial
    row.talk_s = end.talk_s
    row.ended_at = end.ended_at
    ticket = await session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    if ticket is None:
        return
    reached = status is AgentCallStatus.ANSWERED
    tried = status is not AgentCallStatus.AGENT_NO_ANSWER
    await record_call(
        session,
        ticket=ticket,
        linkedid=row.call_id,
        body=describe(status, row.phone, end.talk_s),
        actor=f"agent {row.agent}",
        done=reached,
        # A task whose customer was tried and not reached goes back on the list, due later.
        due_again=(
            now + timedelta(seconds=settings.requeue_after_s) if tried and not reached else None
        ),
        now=now,
    )


def result_handler(settings: ClickToCallSettings, clock: Clock) -> JobHandler:
    async def settle(session: AsyncSession, payload: dict[str, Any]) -> None:
        try:
            end = CallEnd.model_validate(payload)
        except ValidationError as exc:
            raise InvalidJob(f"click-to-call result unusable: {exc.error_count()} errors") from None
        await apply_end(session, end, settings, clock.now())

    return settle
