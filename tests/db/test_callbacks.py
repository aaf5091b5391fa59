"""A voicemail always becomes a callback task, even across a database outage."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from cti.container import Container
from cti.tickets.schemas import TicketType
from cti.tickets.service import TicketFilter, list_tickets
from ivr.voicemail import Voicemail

MESSAGE = Voicemail(
    uniqueid="1795432195.64",
    linkedid="1795432195.64",
    caller_number="13812345678",
    caller_name="陈静",
    dnis="4008001234",
    reason="holiday",
    recording_path="/var/spool/asterisk/monitor/cti/20261123/1795432195.64-voicemail.wav",
    left_message=True,
)


class DownFor:
    def __init__(self, real: Callable[[], AbstractAsyncContextManager[AsyncSession]], n: int):
        self.real, self.n = real, n

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        if self.n > 0:
            self.n -= 1
            raise OperationalError("INSERT", {}, Exception("database is down"))
        return self.real()


async def callbacks(container: Container) -> list[object]:
    async with container.sessions() as session:
        items, _ = await list_tickets(session, TicketFilter(type=TicketType.CALLBACK.value), 50, 0)
    return list(items)


async def test_voicemail_becomes_a_callback_ticket(container: Container) -> None:
    await container.bus.deliver(MESSAGE)
    [ticket] = await callbacks(container)
    assert ticket.caller_number == "13812345678"  # type: ignore[attr-defined]
    assert ticket.recording_path == MESSAGE.recording_path  # type: ignore[attr-defined]
    assert ticket.description.startswith("客户语音留言（节假日）")  # type: ignore[attr-defined]


async def test_callback_survives_a_database_outage(container: Container) -> None:
    outbox = container.callbacks
    real = outbox.sessions
    outbox.sessions = DownFor(real, 2)  # type: ignore[assignment]
    await container.bus.deliver(MESSAGE)  # does not raise: the AGI call ends normally
    assert len(outbox.pending) == 1
    await outbox.retry()  # still down
    assert len(outbox.pending) == 1
    await outbox.retry()  # back
    assert not outbox.pending
    outbox.sessions = real
    assert len(await callbacks(container)) == 1
