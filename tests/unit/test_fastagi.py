"""The FastAGI server survives bad peers and answers the hotline script."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Callable

import pytest

from cti.acd.decision import RoutingDecision
from ivr.fastagi import MAX_HEADER_LINES, AgiSession, FastAgiServer, exposure_warning
from ivr.hotline import hotline_app

WAIT = 10.0  # generous bound for what should happen soon

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

    srv = FastAgiServer("127.0.0.1", 0, {"hotline": hotline_app(decide)}, request_timeout=0.5)
    await srv.start()
    yield srv
    await srv.stop()


async def _answer_commands(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[str] | None = None
) -> list[str]:
    seen = [] if seen is None else seen
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


class Counted:
    """What the server reports to the metrics."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.seconds: list[float | None] = []

    def agi_request(self, script: str, outcome: str, seconds: float | None = None) -> None:
        self.requests.append((script, outcome))
        self.seconds.append(seconds)

    def agi_refused(self, reason: str) -> None:
        self.refused.append(reason)


async def _eof_or_commands(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[str]:
    """The commands the server sent until it hung up (closed or reset)."""
    seen: list[str] = []
    with contextlib.suppress(ConnectionResetError):
        await asyncio.wait_for(_answer_commands(reader, writer, seen), WAIT)
    return seen


async def test_slow_request_is_cut_by_the_whole_request_deadline() -> None:
    """Issue 14 row 6: one header line every few seconds held a session without limit.

    Each line comes well within the per-line timeout; the request as a whole does not.
    """
    counted = Counted()
    srv = FastAgiServer(
        "127.0.0.1",
        0,
        {"hotline": hotline_app()},
        request_timeout=0.3,
        command_timeout=5.0,
        counters=counted,
    )
    await srv.start()
    sent = 0
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)

        async def trickle() -> None:
            nonlocal sent
            with contextlib.suppress(ConnectionError):
                for i in range(MAX_HEADER_LINES):
                    writer.write(f"agi_slow_{i}: x\n".encode())
                    await writer.drain()
                    sent += 1
                    await asyncio.sleep(0.05)

        slow = asyncio.create_task(trickle())
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # the server hung up
        slow.cancel()
        writer.close()
    finally:
        await srv.stop()
    assert sent < MAX_HEADER_LINES  # cut while still trickling, not at the line limit
    assert srv.failed == 1 and counted.requests == [("unknown", "timeout")]


async def test_connection_over_the_cap_is_closed_at_once() -> None:
    counted = Counted()
    srv = FastAgiServer(
        "127.0.0.1",
        0,
        {"hotline": hotline_app(_decide)},
        max_connections=2,
        request_timeout=60.0,
        counters=counted,
    )
    await srv.start()
    try:
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(2)]
        await _until(lambda: srv.sessions == 2)
        # The third connection is a good request, and it is still not heard.
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(HEADERS)
        assert await _eof_or_commands(reader, writer) == []
        writer.close()
        assert srv.refused == 1 and counted.refused == ["capacity"]
        # Room again: the next caller is served.
        idle[0][1].close()
        await _until(lambda: srv.sessions == 1)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(HEADERS)
        assert 'SET VARIABLE CTI_QUEUE "hotline"' in await _eof_or_commands(reader, writer)
        writer.close()
        idle[1][1].close()
    finally:
        await srv.stop()


async def test_a_peer_outside_the_allowed_networks_is_closed_unheard(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted = Counted()
    srv = FastAgiServer(
        "127.0.0.1",
        0,
        {"hotline": hotline_app(_decide)},
        allowed=[ipaddress.ip_network("127.0.0.1/32")],
        counters=counted,
    )
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", srv.port, local_addr=("127.0.0.2", 0)
        )
        writer.write(HEADERS)
        assert await _eof_or_commands(reader, writer) == []
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(HEADERS)
        assert await _eof_or_commands(reader, writer) != []
        writer.close()
    finally:
        await srv.stop()
    assert srv.refused == 1 and counted.refused == ["address"]
    assert counted.requests == [("hotline", "ok")]
    [took] = counted.seconds  # the session's time, for the latency histogram
    assert took is not None and took > 0
    assert [r.message for r in caplog.records if "refused" in r.message] == [
        "FastAGI: refused connection from 127.0.0.2 (not in the allowed networks)"
    ]


@pytest.mark.parametrize(
    ("host", "configured", "warns"),
    [
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", False, True),
        ("10.1.2.3", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_listening_beyond_loopback_without_a_list_warns(
    host: str, configured: bool, warns: bool
) -> None:
    message = exposure_warning(host, configured)
    assert (message is not None) == warns
    if message:
        assert "CTI_AGI_ALLOWED" in message


async def test_control_characters_from_asterisk_never_reach_the_apps() -> None:
    seen: dict[str, str | None] = {}

    async def app(session: AgiSession) -> None:
        seen["name"] = session.env["agi_calleridname"]
        seen["var"] = await session.get_variable("CTI_REASON")

    srv = FastAgiServer("127.0.0.1", 0, {"hotline": app})
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(
            HEADERS.replace(
                b"agi_calleridname: \xe5\xbc\xa0\xe4\xbc\x9f", b"agi_calleridname: A\x1b[2J\x00B\rC"
            )
        )
        await reader.readline()  # GET VARIABLE CTI_REASON
        writer.write(b"200 result=1 (closed\x07\x1b]0;x\x07)\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
        writer.close()
    finally:
        await srv.stop()
    assert seen == {"name": "A[2JB C", "var": "closed]0;x"}


async def _decide(env: dict[str, str]) -> RoutingDecision:
    return RoutingDecision(queue="hotline", priority=10)


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_session_ends_at_the_whole_session_deadline() -> None:
    """A peer that keeps a session going (each answer in time) is still cut off."""
    counted = Counted()

    async def chatty(session: AgiSession) -> None:
        while True:
            await session.verbose("still here")

    srv = FastAgiServer("127.0.0.1", 0, {"hotline": chatty}, session_timeout=0.3, counters=counted)
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(HEADERS)
        answered = await _eof_or_commands(reader, writer)  # returns when the server hangs up
        writer.close()
    finally:
        await srv.stop()
    assert answered and counted.requests == [("hotline", "timeout")]
