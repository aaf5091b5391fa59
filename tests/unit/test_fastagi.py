"""The FastAGI server survives bad peers and answers the hotline script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cti.acd.decision import RoutingDecision
from ivr.fastagi import AgiSession, FastAgiServer
from ivr.hotline import hotline_app

HEADERS = (
    b"agi_network: yes\n"
    b"agi_network_script: hotline\n"
    b"agi_request: agi://127.0.0.1:4573/hotline\n"
    b"agi_channel: PJSIP/callers-00000001\n"
    b"agi_uniqueid: 1732350000.1\n"
    b"agi_callerid: 13800138000\n"
    b"agi_calleridname: \xe5\xbc\xa0\xe4\xbc\x9f\n"
    b"agi_extension: 4008001234\n"
    b"\n"
)


@pytest.fixture
async def server() -> AsyncIterator[FastAgiServer]:
    async def decide(env: dict[str, str]) -> RoutingDecision:
        return RoutingDecision(queue="hotline", priority=10, reason=f"caller {env['agi_callerid']}")

    srv = FastAgiServer("127.0.0.1", 0, {"hotline": hotline_app(decide)}, header_timeout=0.5)
    await srv.start()
    yield srv
    await srv.stop()


async def _answer_commands(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[str]:
    seen = []
    while line := await reader.readline():
        seen.append(line.decode().strip())
        writer.write(b"200 result=1\n")
        await writer.drain()
    return seen


async def test_hotline_sets_the_routing_variables(server: FastAgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADERS)
    commands = await asyncio.wait_for(_answer_commands(reader, writer), 5)
    writer.close()
    assert 'SET VARIABLE CTI_QUEUE "hotline"' in commands
    assert 'SET VARIABLE CTI_PRIORITY "10"' in commands
    assert 'SET VARIABLE CTI_ACTION "queue"' in commands
    assert server.handled == 1


async def test_peer_closing_mid_headers_does_not_spin(server: FastAgiServer) -> None:
    # panoramisk's FastAGI loops at 100% CPU here; ours ends the session.
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_scr")
    await writer.drain()
    writer.close()
    for _ in range(100):
        if server.failed:
            break
        await asyncio.sleep(0.02)
    assert server.failed == 1
    # The loop is still free: a good session right after is served.
    await test_hotline_sets_the_routing_variables(server)


async def test_silent_peer_times_out(server: FastAgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # server gave up and closed
    writer.close()
    assert server.failed == 1


async def test_garbage_headers_are_refused(server: FastAgiServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert server.failed == 1 and server.handled == 0


async def test_unsafe_variable_value_never_reaches_asterisk() -> None:
    sent: list[bytes] = []

    class W:
        def write(self, data: bytes) -> None:
            sent.append(data)

        async def drain(self) -> None:
            return None

    session = AgiSession(asyncio.StreamReader(), W(), {}, 1.0)  # type: ignore[arg-type]
    for bad in ('x"\nHANGUP', "a\\b", "line\rbreak"):
        with pytest.raises(Exception, match="unsafe"):
            await session.set_variable("CTI_QUEUE", bad)
    assert sent == []


async def test_slow_routing_decision_leaves_the_dialplan_defaults() -> None:
    async def slow(env: dict[str, str]) -> RoutingDecision:
        await asyncio.sleep(5)
        return RoutingDecision(queue="vip-only", priority=10)

    srv = FastAgiServer("127.0.0.1", 0, {"hotline": hotline_app(slow, deadline_s=0.2)})
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(HEADERS)
        commands = await asyncio.wait_for(_answer_commands(reader, writer), 3)
        writer.close()
    finally:
        await srv.stop()
    assert commands == []  # nothing set: the dialplan queues the call unchanged
    assert srv.handled == 1
