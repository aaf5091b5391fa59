"""A voicemail always becomes one callback task, even across a database outage and a restart."""

from __future__ import annotations

from pathlib import Path

from cti.container import Container
from cti.events import Voicemail
from cti.tickets.schemas import TicketType
from cti.tickets.service import TicketFilter, list_tickets
from tests.db.conftest import restarted_after_outage

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


async def callbacks(container: Container) -> list[object]:
    async with container.sessions() as session:
        items, _ = await list_tickets(session, TicketFilter(type=TicketType.CALLBACK.value), 50, 0)
    return list(items)


async def test_voicemail_becomes_a_callback_ticket(container: Container) -> None:
    await container.jobs.stop()  # run the job here, not in the background runner
    await container.bus.deliver(MESSAGE)  # what the voicemail AGI app does
    assert await container.jobs.run_once() == 1
    [ticket] = await callbacks(container)
    assert ticket.caller_number == "13812345678"  # type: ignore[attr-defined]
    assert ticket.recording_path == MESSAGE.recording_path  # type: ignore[attr-defined]
    assert ticket.description.startswith("客户语音留言（节假日）")  # type: ignore[attr-defined]


async def test_callback_survives_a_database_outage_and_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    async with restarted_after_outage(tmp_path, database_url, MESSAGE) as up:
        assert len(await callbacks(up)) == 1
        # The same voicemail delivered again (e.g. a retried AGI) is still one task.
        await up.bus.deliver(MESSAGE)
        await up.jobs.run_once()
        assert len(await callbacks(up)) == 1
