"""A voicemail always becomes one callback task, even across a database outage and a restart."""

from __future__ import annotations

from pathlib import Path

from cti.container import Container
from cti.events import Voicemail
from cti.jobs.config import JobSettings
from cti.settings import Settings
from cti.tickets.schemas import TicketType
from cti.tickets.service import TicketFilter, list_tickets

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
UNREACHABLE = "postgresql+asyncpg://cti:cti@127.0.0.1:9/cti"


async def callbacks(container: Container) -> list[object]:
    async with container.sessions() as session:
        items, _ = await list_tickets(session, TicketFilter(type=TicketType.CALLBACK.value), 50, 0)
    return list(items)


def offline(data_dir: Path, database_url: str) -> Container:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, ami_enabled=False, agi_enabled=False
    )
    return Container(settings, job_settings=JobSettings(db_timeout_s=1.0))


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
    down = offline(tmp_path, UNREACHABLE)
    try:
        await down.bus.deliver(MESSAGE)  # does not raise: the AGI call ends normally
        assert down.spool.pending() == 1
    finally:
        await down.engine.dispose()

    # The service restarts on the same data dir with the database back.
    up = offline(tmp_path, database_url)
    try:
        await up.jobs.run_once()
        assert up.spool.pending() == 0
        assert len(await callbacks(up)) == 1
        # The same voicemail delivered again (e.g. a retried AGI) is still one task.
        await up.bus.deliver(MESSAGE)
        await up.jobs.run_once()
        assert len(await callbacks(up)) == 1
    finally:
        await up.engine.dispose()
