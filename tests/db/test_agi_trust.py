"""Issue 14 row 4: the FastAGI port took anyone, and believed what it was told.

A client that was not Asterisk could create callback tickets, and a
``MIXMONITOR_FILENAME`` answer with ``..`` made the service send ``RECORD FILE``
to ``/etc/cron.d`` and store that path on the ticket. Here the whole service
runs (``cti serve``'s parts, AGI on a free port) and a fake Asterisk talks to it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.app import running
from cti.container import Container
from cti.settings import Settings
from cti.tickets.schemas import TicketType
from cti.tickets.service import TicketFilter, list_tickets

WAIT = 10.0
ROOT = "/var/spool/asterisk/monitor"
UNIQUEID = "1732350000.7"


def voicemail_request(uniqueid: str = UNIQUEID, name: bytes = "陈静".encode()) -> bytes:
    return (
        b"agi_network: yes\n"
        b"agi_network_script: voicemail\n"
        b"agi_request: agi://127.0.0.1:4573/voicemail\n"
        b"agi_channel: PJSIP/callers-00000007\n"
        b"agi_uniqueid: " + uniqueid.encode() + b"\n"
        b"agi_callerid: 13812345678\n"
        b"agi_calleridname: " + name + b"\n"
        b"agi_dnid: 4008001234\n"
        b"\n"
    )


async def fake_asterisk(
    port: int, request: bytes, variables: dict[str, str], bind: str = "127.0.0.1"
) -> list[str]:
    """Send ``request``, answer every command as Asterisk would; return the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(bind, 0))
    commands: list[str] = []
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(WAIT):
            while line := await reader.readline():
                command = line.decode().strip()
                commands.append(command)
                if command.startswith("GET VARIABLE "):
                    value = variables.get(command.removeprefix("GET VARIABLE "))
                    reply = "200 result=0" if value is None else f"200 result=1 ({value})"
                elif command.startswith("RECORD FILE "):
                    reply = "200 result=0 (timeout) endpos=48000"
                else:
                    reply = "200 result=0 endpos=8000"
                writer.write(reply.encode() + b"\n")
                await writer.drain()
    except ConnectionResetError:
        pass  # a refused peer is dropped without ceremony
    finally:
        writer.close()
    return commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        ami_enabled=False,
        http_enabled=False,
        agi_port=free_port(),
        agi_allowed="127.0.0.1",  # as CTI_AGI_ALLOWED gives it
        recordings_root=ROOT,
    )
    async with running(settings, migrate=False) as container:
        await container.jobs.stop()  # tickets are written here, by run_once
        yield container


async def callback_tickets(container: Container) -> list[object]:
    async with container.sessions() as session:
        items, _ = await list_tickets(session, TicketFilter(type=TicketType.CALLBACK.value), 50, 0)
    return list(items)


def sample(container: Container, name: str, **labels: str) -> float:
    return container.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_peer_outside_the_allowed_addresses_creates_nothing(
    service: Container, caplog: pytest.LogCaptureFixture
) -> None:
    assert service.agi is not None
    commands = await fake_asterisk(
        service.agi.port, voicemail_request(), {"CTI_ACTION": "voicemail"}, bind="127.0.0.2"
    )
    assert commands == []  # not one command: the peer was not heard at all
    assert await service.jobs.run_once() == 0
    assert await callback_tickets(service) == []
    assert sample(service, "cti_agi_refused_total", reason="address") == 1
    refusals = [r for r in caplog.records if "refused connection from 127.0.0.2" in r.message]
    assert len(refusals) == 1


async def test_a_recording_path_outside_the_root_never_reaches_asterisk_or_the_ticket(
    service: Container,
) -> None:
    assert service.agi is not None
    answers = {
        "CHANNEL(linkedid)": UNIQUEID,
        "CTI_ACTION": "voicemail",
        "CTI_REASON": "closed",
        "MIXMONITOR_FILENAME": f"{ROOT}/cti/../../../../etc/cron.d/x.wav",
    }
    commands = await fake_asterisk(
        service.agi.port, voicemail_request(name=b"Evil\x1b[2J\rNAME"), answers
    )
    [record] = [c for c in commands if c.startswith("RECORD FILE ")]
    path = record.split()[2]
    assert path == f"{ROOT}/cti/voicemail/{UNIQUEID}-voicemail"
    assert ".." not in record and "/etc/" not in record

    assert await service.jobs.run_once() == 1
    [ticket] = await callback_tickets(service)
    assert ticket.recording_path == f"{path}.wav"  # type: ignore[attr-defined]
    # The caller's name from agi_calleridname reached the ticket without its controls.
    assert ticket.description.endswith("来电人：Evil[2J NAME")  # type: ignore[attr-defined]
    assert sample(service, "cti_agi_requests_total", script="voicemail", outcome="ok") == 1


async def test_the_call_s_own_recording_folder_is_still_used(service: Container) -> None:
    assert service.agi is not None
    folder = f"{ROOT}/cti/20261123"
    answers = {"CTI_ACTION": "voicemail", "MIXMONITOR_FILENAME": f"{folder}/{UNIQUEID}.wav"}
    commands = await fake_asterisk(service.agi.port, voicemail_request(), answers)
    assert any(c.startswith(f"RECORD FILE {folder}/{UNIQUEID}-voicemail wav") for c in commands)
