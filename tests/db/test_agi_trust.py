"""Issue 14 rows 4 and 6 (AGI): the FastAGI port took anyone, believed what it
was told, and let slow clients hold it.

A client that was not Asterisk could create callback tickets, and a
``MIXMONITOR_FILENAME`` answer with ``..`` made the service send ``RECORD FILE``
to ``/etc/cron.d`` and store that path on the ticket; 100 connections sending
one line every 3 s were held without limit. Here the whole service runs
(``cti serve``'s parts, AGI on a free port, configured by its settings) and a
fake Asterisk talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
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
MAX_HEADER_LINES = 200  # what the server accepted before it cut a trickling request
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
        agi_request_timeout=0.3,
        agi_max_connections=2,
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
    # Its time is in the latency histogram (a session, not a refused connection).
    assert sample(service, "cti_agi_seconds_count", script="voicemail") == 1


async def test_the_call_s_own_recording_folder_is_still_used(service: Container) -> None:
    assert service.agi is not None
    folder = f"{ROOT}/cti/20261123"
    answers = {"CTI_ACTION": "voicemail", "MIXMONITOR_FILENAME": f"{folder}/{UNIQUEID}.wav"}
    commands = await fake_asterisk(service.agi.port, voicemail_request(), answers)
    assert any(c.startswith(f"RECORD FILE {folder}/{UNIQUEID}-voicemail wav") for c in commands)


HOTLINE_REQUEST = voicemail_request().replace(b"voicemail", b"hotline")


async def test_a_trickling_request_is_cut_by_the_whole_request_deadline(
    service: Container,
) -> None:
    assert service.agi is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", service.agi.port)
    sent = 0

    async def trickle() -> None:
        # One line at a time, each far within the per-line timeout.
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            for i in range(MAX_HEADER_LINES):
                writer.write(f"agi_slow_{i}: x\n".encode())
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.05)

    slow = asyncio.create_task(trickle())
    try:
        assert await asyncio.wait_for(reader.read(), 2 * WAIT) == b""  # the service hung up
    finally:
        slow.cancel()
        writer.close()
    assert sent < MAX_HEADER_LINES  # cut while still trickling, not at the line limit
    assert sample(service, "cti_agi_requests_total", script="unknown", outcome="timeout") == 1


async def test_a_connection_over_the_cap_is_closed_unheard(service: Container) -> None:
    assert service.agi is not None
    agi = service.agi
    idle = [await asyncio.open_connection("127.0.0.1", agi.port) for _ in range(2)]
    async with asyncio.timeout(WAIT):
        while agi.sessions < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    # A well-formed hotline request, one over CTI_AGI_MAX_CONNECTIONS: not one command back.
    assert await fake_asterisk(agi.port, HOTLINE_REQUEST, {}) == []
    assert sample(service, "cti_agi_refused_total", reason="capacity") == 1
    for _, writer in idle:
        writer.close()
