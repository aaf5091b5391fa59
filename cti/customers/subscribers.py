"""Customers remember who answered them last, in the transaction that stores the call."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cti.calls.service import utc
from cti.calls.writer import CallRecordWriter
from cti.customers.phones import PhoneNormalizer
from cti.customers.service import record_answered
from cti.tracking.events import CallSummary, Outcome


def register(writer: CallRecordWriter, phones: PhoneNormalizer) -> None:
    async def remember_last_agent(session: AsyncSession, summary: CallSummary) -> None:
        if summary.outcome is Outcome.ANSWERED and summary.agent and summary.caller_number:
            await record_answered(
                session,
                phones=phones,
                caller_number=summary.caller_number,
                agent_interface=summary.agent,
                at=utc(summary.ended_at),
            )

    writer.add_hook(remember_last_agent)
