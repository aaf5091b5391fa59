"""AmiClient and record_trace against a fake AMI server on 127.0.0.1.

The fake speaks the Asterisk 22 wire format (banner, ``Response:`` with
``ActionID``, list actions with ``EventList: start`` ... ``...Complete``).
Timing: small intervals to keep the suite fast, but assertions wait for
behaviour with generous upper bounds instead of measuring time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cti.ami import actions
from cti.ami.client import AmiClient, ConnectionState
from cti.ami.codec import AmiMessage
from cti.ami.protocol import (
    AmiActionError,
    AmiActionTimeout,
    AmiConnectionLost,
    AmiNotConnected,
)
from cti.ami.recorder import record_trace
from cti.ami.resync import ResyncSnapshot
from cti.container import Container
from cti.settings import Settings

SECRET = "s3cret-never-logged"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
WAIT = 10.0  # generous upper bound for anything that should happen "soon"

Handler = Callable[["Conn", dict[str, str]], Awaitable[None] | None]


async def eventually(predicate: Callable[[], bool]) -> None:
    """Poll state the code under test exposes no notification for."""
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def msg(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.actions: list[dict[str, str]] = []
        self.received = bytearray()  # every byte the client sent, as sent
        self.challenge: str | None = None

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def drop(self) -> None:
        self.writer.transport.abort()


class FakeAmi:
    """A minimal Asterisk manager: enough for login, ping, lists and a few actions."""

    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.sent_after_login: list[bytearray] = []
        self.handlers: dict[str, Handler] = {}
        self.pingless: set[int] = set()  # indexes of connections whose Pings go unanswered
        self.channels: list[bytes] = []
        self.members: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.new_conn = asyncio.Condition()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for conn in self.conns:
            conn.drop()
        await self.server.wait_closed()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for c in self.conns for a in c.actions if a.get("Action") == name]

    async def wait_conns(self, n: int) -> None:
        async with asyncio.timeout(WAIT), self.new_conn:
            await self.new_conn.wait_for(lambda: len(self.conns) >= n)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        async with self.new_conn:
            self.conns.append(conn)
            self.new_conn.notify_all()
        writer.write(BANNER)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                conn.received += raw
                headers: dict[str, str] = {}
                for line in raw.decode().split("\r\n"):
                    if line:
                        key, _, value = line.partition(": ")
                        headers.setdefault(key, value)
                conn.actions.append(headers)
                handler = self.handlers.get(headers["Action"]) or getattr(
                    self, "_" + headers["Action"].lower(), self._default
                )
                result = handler(conn, headers)
                if result is not None:
                    await result
        writer.close()

    async def _challenge(self, conn: Conn, a: dict[str, str]) -> None:
        if a.get("AuthType", "").lower() != "md5":
            await conn.send(
                msg(
                    "Response: Error",
                    f"ActionID: {a['ActionID']}",
                    "Message: Must specify AuthType",
                )
            )
            return
        conn.challenge = str(secrets.randbelow(10**9))
        await conn.send(
            msg("Response: Success", f"ActionID: {a['ActionID']}", f"Challenge: {conn.challenge}")
        )

    def _authenticated(self, conn: Conn, a: dict[str, str]) -> bool:
        """Asterisk's rule: an MD5 Key over the last challenge, or the Secret in clear."""
        if a.get("AuthType", "").lower() == "md5":
            if conn.challenge is None:
                return False
            expected = hashlib.md5((conn.challenge + SECRET).encode()).hexdigest()
            return a.get("Key") == expected
        return a.get("Secret") == SECRET

    async def _login(self, conn: Conn, a: dict[str, str]) -> None:
        if not self._authenticated(conn, a):
            await conn.send(
                msg(
                    "Response: Error",
                    f"ActionID: {a['ActionID']}",
                    "Message: Authentication failed",
                )
            )
            conn.drop()
            return
        await conn.send(
            msg(
                "Response: Success",
                f"ActionID: {a['ActionID']}",
                "Message: Authentication accepted",
            )
        )
        await conn.send(msg("Event: FullyBooted", "Privilege: system,all", "Status: Fully Booted"))

    async def _ping(self, conn: Conn, a: dict[str, str]) -> None:
        if self.conns.index(conn) not in self.pingless:
            await conn.send(
                msg(
                    "Response: Success",
                    f"ActionID: {a['ActionID']}",
                    "Ping: Pong",
                    "Timestamp: 1700000000.000000",
                )
            )

    async def _list(self, conn: Conn, a: dict[str, str], items: list[bytes], complete: str) -> None:
        aid = a["ActionID"]
        out = msg("Response: Success", f"ActionID: {aid}", "EventList: start", "Message: follow")
        for item in items:
            out += item.replace(b"ActionID: *", f"ActionID: {aid}".encode())
        out += msg(
            f"Event: {complete}",
            f"ActionID: {aid}",
            "EventList: Complete",
            f"ListItems: {len(items)}",
        )
        await conn.send(out)

    async def _coreshowchannels(self, conn: Conn, a: dict[str, str]) -> None:
        await self._list(conn, a, self.channels, "CoreShowChannelsComplete")

    async def _queuestatus(self, conn: Conn, a: dict[str, str]) -> None:
        params = msg(
            "Event: QueueParams",
            "ActionID: *",
            "Queue: hotline",
            "Max: 0",
            "Strategy: rrmemory",
            "Calls: 0",
            "Holdtime: 0",
            "TalkTime: 0",
            "Completed: 0",
            "Abandoned: 0",
        )
        await self._list(conn, a, [params, *self.members], "QueueStatusComplete")

    async def _queuesummary(self, conn: Conn, a: dict[str, str]) -> None:
        summary = msg(
            "Event: QueueSummary",
            "ActionID: *",
            "Queue: hotline",
            "LoggedIn: 1",
            "Available: 1",
            "Callers: 0",
            "HoldTime: 0",
            "TalkTime: 0",
            "LongestHoldTime: 0",
        )
        await self._list(conn, a, [summary], "QueueSummaryComplete")

    async def _queueadd(self, conn: Conn, a: dict[str, str]) -> None:
        await conn.send(
            msg(
                "Response: Success",
                f"ActionID: {a['ActionID']}",
                "Message: Added interface to queue",
            )
        )

    async def _originate(self, conn: Conn, a: dict[str, str]) -> None:
        aid = a["ActionID"]
        await conn.send(
            msg("Response: Success", f"ActionID: {aid}", "Message: Originate successfully queued")
        )
        await conn.send(
            msg(
                "Event: OriginateResponse",
                f"ActionID: {aid}",
                "Response: Success",
                f"Channel: {a['Channel']}-00000007",
                f"Context: {a['Context']}",
                f"Exten: {a['Exten']}",
                "Reason: 4",
                "Uniqueid: 1700000000.7",
                "CallerIDNum: 13800138000",
                "CallerIDName: 张伟",
            )
        )

    async def _command(self, conn: Conn, a: dict[str, str]) -> None:
        await conn.send(
            msg(
                "Response: Success",
                f"ActionID: {a['ActionID']}",
                "Message: Command output follows",
                "Output: Asterisk 22.1.0 built by root",
                "Output:",
                "Output: last line",
            )
        )

    async def _default(self, conn: Conn, a: dict[str, str]) -> None:
        await conn.send(msg("Response: Success", f"ActionID: {a['ActionID']}", "Message: ok"))


def settings_for(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ami_host": "127.0.0.1",
        "ami_port": port,
        "ami_username": "cti",
        "ami_secret": SecretStr(SECRET),
        "ami_ping_interval": 30.0,
        "ami_ping_timeout": 5.0,
        "ami_reconnect_min": 0.01,
        "ami_reconnect_max": 0.05,
        "ami_action_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


class Recorder:
    """Collects what the client hands out, in one ordered log."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.changed = asyncio.Condition()

    def on_event(self, event: AmiMessage) -> None:
        self.log.append(("event", event))
        self._notify()

    def on_state(self, state: ConnectionState) -> None:
        self.log.append(("state", state))
        self._notify()

    def on_resync(self, snapshot: ResyncSnapshot) -> None:
        self.log.append(("resync", snapshot))
        self._notify()

    def _notify(self) -> None:
        async def notify() -> None:
            async with self.changed:
                self.changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def of(self, kind: str) -> list[Any]:
        return [item for k, item in self.log if k == kind]

    def events(self, name: str | None = None) -> list[AmiMessage]:
        return [e for e in self.of("event") if name is None or e.get("Event") == name]

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(predicate)


@pytest.fixture
async def fake() -> Any:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@contextlib.asynccontextmanager
async def running(client: AmiClient, rec: Recorder, resyncs: int = 1) -> Any:
    await client.start()
    try:
        await rec.until(lambda: len(rec.of("resync")) >= resyncs)
        yield client
    finally:
        await client.stop()


def make_client(fake: FakeAmi, rec: Recorder, **overrides: Any) -> AmiClient:
    return AmiClient(
        settings_for(fake.port, **overrides),
        on_event=rec.on_event,
        on_state=rec.on_state,
        on_resync=rec.on_resync,
        rng=random.Random(1),
    )


async def test_login_resync_and_events_in_order(fake: FakeAmi, rec: Recorder) -> None:
    async with running(make_client(fake, rec), rec) as client:
        assert client.logged_in and client.connected and client.last_error is None
        login = fake.actions("Login")[0]
        assert login["Username"] == "cti" and login["Events"] == "on"
        burst = b"".join(msg("Event: UserEvent", f"Seq: {i}") for i in range(300))
        await fake.conns[0].send(burst)
        await rec.until(lambda: len(rec.events("UserEvent")) == 300)
        assert [int(e["Seq"]) for e in rec.events("UserEvent")] == list(range(300))
    assert rec.of("state")[-1] is ConnectionState.STOPPED
    assert not client.logged_in


async def test_chinese_name_split_across_two_tcp_writes(fake: FakeAmi, rec: Recorder) -> None:
    event = msg(
        "Event: Newchannel",
        "Channel: PJSIP/trunk-00000001",
        "CallerIDNum: 13800138000",
        "CallerIDName: 张伟",
        "Linkedid: 1700000000.1",
    )
    cut = event.index("张".encode()) + 2  # inside the 3-byte character
    async with running(make_client(fake, rec), rec):
        conn = fake.conns[0]
        await conn.send(event[:cut])
        await asyncio.sleep(0.05)  # let the client read the first half on its own
        await conn.send(event[cut:])
        await rec.until(lambda: bool(rec.events("Newchannel")))
    assert rec.events("Newchannel")[0]["CallerIDName"] == "张伟"


async def test_empty_header_value_survives(fake: FakeAmi, rec: Recorder) -> None:
    async with running(make_client(fake, rec), rec):
        await fake.conns[0].send(msg("Event: Newchannel", "CallerIDName:", "Exten: 400"))
        await rec.until(lambda: bool(rec.events("Newchannel")))
    event = rec.events("Newchannel")[0]
    assert "CallerIDName" in event and event["CallerIDName"] == ""


async def test_handler_exception_does_not_drop_the_link(
    fake: FakeAmi, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def on_event(event: AmiMessage) -> None:
        seen.append(event["Event"])
        if event["Event"] == "Bad":
            raise RuntimeError("handler bug")

    client = AmiClient(
        settings_for(fake.port), on_event=on_event, on_resync=rec.on_resync, on_state=rec.on_state
    )
    async with running(client, rec):
        await fake.conns[0].send(msg("Event: Bad") + msg("Event: Good"))
        await actions.ping(client)  # answered on the same connection
        assert seen[-2:] == ["Bad", "Good"]
        assert len(fake.conns) == 1 and client.logged_in
    assert "AMI event handler failed" in caplog.text


async def test_unanswered_ping_aborts_and_reconnects(fake: FakeAmi, rec: Recorder) -> None:
    fake.pingless = {0}  # the first link is half-open: the peer never answers nor closes
    client = make_client(fake, rec, ami_ping_interval=0.05, ami_ping_timeout=0.1)
    await client.start()
    try:
        # Not a timing assertion: the dead link must be noticed and replaced
        # well within WAIT although the peer never closes it.
        await fake.wait_conns(2)
        await rec.until(lambda: len(rec.of("resync")) >= 2)
        states = rec.of("state")
        first_login = states.index(ConnectionState.LOGGED_IN)
        assert ConnectionState.DISCONNECTED in states[first_login:]
        assert client.logged_in
        assert len([a for a in fake.conns[0].actions if a["Action"] == "Ping"]) >= 1
    finally:
        await client.stop()


async def test_unanswered_ping_keeps_a_link_that_delivers_events(
    fake: FakeAmi, rec: Recorder
) -> None:
    # Under a flood of events Asterisk answers a Ping late: only silence is a dead peer.
    fake.pingless = {0}
    client = make_client(fake, rec, ami_ping_interval=0.05, ami_ping_timeout=0.5)
    flowing = True

    async def events() -> None:
        n = 0
        while flowing:
            n += 1
            await fake.conns[0].send(msg("Event: VarSet", f"Value: {n}"))
            await asyncio.sleep(0.01)

    async with running(client, rec):
        sender = asyncio.create_task(events())
        try:
            pings = lambda: [a for a in fake.conns[0].actions if a["Action"] == "Ping"]  # noqa: E731
            await eventually(lambda: len(pings()) >= 4)  # three of them went unanswered
            assert len(fake.conns) == 1 and client.logged_in
        finally:
            flowing = False
            await sender
        # The peer falls silent as well: now it is gone.
        await fake.wait_conns(2)
        assert "no reply to Ping within 0.5s" in (client.last_error or "") or client.logged_in
        states = rec.of("state")
        assert ConnectionState.DISCONNECTED in states[states.index(ConnectionState.LOGGED_IN) :]


async def test_lost_reason_names_the_missing_ping(fake: FakeAmi, rec: Recorder) -> None:
    fake.pingless = {0}
    fake.handlers["Login"] = lambda conn, a: (
        fake._login(conn, a) if len(fake.conns) == 1 else None  # second login never answered
    )
    client = make_client(fake, rec, ami_ping_interval=0.05, ami_ping_timeout=0.1)
    await client.start()
    try:
        await fake.wait_conns(2)
        await eventually(lambda: (client.last_error or "").endswith("no reply to Ping within 0.1s"))
        assert (
            client.last_error
            == f"connection to 127.0.0.1:{fake.port} lost: no reply to Ping within 0.1s"
        )
    finally:
        await client.stop()


@pytest.mark.parametrize("answered_first", [False, True], ids=["unanswered", "half-answered"])
async def test_originate_lost_mid_action_fails_and_is_never_resent(
    fake: FakeAmi, rec: Recorder, answered_first: bool
) -> None:
    async def originate_then_die(conn: Conn, a: dict[str, str]) -> None:
        if answered_first:
            await conn.send(
                msg(
                    "Response: Success",
                    f"ActionID: {a['ActionID']}",
                    "Message: Originate successfully queued",
                )
            )
        conn.drop()

    fake.handlers["Originate"] = originate_then_die
    client = make_client(fake, rec)
    async with running(client, rec):
        with pytest.raises(AmiConnectionLost, match="not re-sent"):
            await actions.originate(client, "PJSIP/13800138000@trunk", context="confirm", exten="s")
        # Wait for the next connection to be fully up: nothing may be replayed on it.
        await rec.until(lambda: len(rec.of("resync")) >= 2)
        await actions.ping(client)
    assert len(fake.actions("Originate")) == 1
    assert [a["Action"] for a in fake.conns[1].actions].count("Originate") == 0


async def test_originate_always_async_and_returns_originate_response(
    fake: FakeAmi, rec: Recorder
) -> None:
    client = make_client(fake, rec)
    async with running(client, rec):
        result = await actions.originate(
            client,
            "PJSIP/13800138000@trunk",
            context="confirm",
            exten="s",
            caller_id='"订单确认" <4008001234>',
            variables={"CTI_ORDER_ID": "A1001"},
        )
    sent = fake.actions("Originate")[0]
    assert sent["Async"] == "true" and sent["ActionID"]
    assert sent["CallerID"] == '"订单确认" <4008001234>'
    assert result.success and result.reason_text == "answered"
    assert result.uniqueid == "1700000000.7"
    assert result.event["CallerIDName"] == "张伟"


async def test_queue_add_resolves(fake: FakeAmi, rec: Recorder) -> None:
    client = make_client(fake, rec)
    async with running(client, rec):
        response = await actions.queue_add(
            client,
            "hotline",
            "PJSIP/1001",
            member_name="王芳",
            penalty=1,
            state_interface="PJSIP/1001",
        )
    assert response["Message"] == "Added interface to queue"
    sent = fake.actions("QueueAdd")[0]
    assert sent["MemberName"] == "王芳" and sent["Paused"] == "false"


async def test_command_output_lines(fake: FakeAmi, rec: Recorder) -> None:
    client = make_client(fake, rec)
    async with running(client, rec):
        lines = await actions.command(client, "core show version")
    assert lines == ["Asterisk 22.1.0 built by root", "", "last line"]


async def test_error_response_raises_action_error(fake: FakeAmi, rec: Recorder) -> None:
    async def refuse(conn: Conn, a: dict[str, str]) -> None:
        await conn.send(
            msg("Response: Error", f"ActionID: {a['ActionID']}", "Message: No such channel")
        )

    fake.handlers["Hangup"] = refuse
    client = make_client(fake, rec)
    async with running(client, rec):
        with pytest.raises(AmiActionError, match="No such channel"):
            await actions.hangup(client, "PJSIP/1001-00000001")
        assert client.logged_in


async def test_unanswered_action_times_out_and_link_stays(fake: FakeAmi, rec: Recorder) -> None:
    fake.handlers["Status"] = lambda conn, a: None
    client = make_client(fake, rec, ami_action_timeout=0.2)
    async with running(client, rec):
        with pytest.raises(AmiActionTimeout, match="Status"):
            await client.send_action({"Action": "Status"})
        await actions.ping(client)
        assert len(fake.conns) == 1


async def test_injection_is_refused_before_sending(fake: FakeAmi, rec: Recorder) -> None:
    client = make_client(fake, rec)
    async with running(client, rec):
        before = len(fake.conns[0].actions)
        with pytest.raises(ValueError):
            await client.send_action({"Action": "Hangup", "Channel": "PJSIP/1\r\nAction: Logoff"})
        with pytest.raises(ValueError):
            await actions.originate(
                client, "PJSIP/1001", context="confirm", exten="s", caller_id="x\nAction: Logoff"
            )
        await actions.ping(client)
        assert [a["Action"] for a in fake.conns[0].actions[before:]] == ["Ping"]


async def test_resync_snapshot_after_every_reconnect(fake: FakeAmi, rec: Recorder) -> None:
    fake.channels = [
        msg(
            "Event: CoreShowChannel",
            "ActionID: *",
            "Channel: PJSIP/trunk-00000001",
            "Uniqueid: 1700000000.1",
            "Linkedid: 1700000000.1",
            "CallerIDNum: 13800138000",
            "CallerIDName: 张伟",
            "Context: hotline",
            "Exten: 4008001234",
            "ChannelState: 6",
            "Application: Queue",
            "BridgeId:",
            "Duration: 00:00:12",
        )
    ]
    fake.members = [
        msg(
            "Event: QueueMember",
            "ActionID: *",
            "Queue: hotline",
            "Name: 王芳",
            "Location: PJSIP/1001",
            "StateInterface: PJSIP/1001",
            "Membership: dynamic",
            "Penalty: 0",
            "CallsTaken: 3",
            "LastCall: 1700000000",
            "LastPause: 0",
            "LoginTime: 1699990000",
            "InCall: 0",
            "Status: 1",
            "Paused: 1",
            "PausedReason: 午休",
            "Wrapuptime: 0",
        )
    ]
    client = make_client(fake, rec)
    async with running(client, rec):
        fake.conns[0].drop()  # Asterisk restarts
        await rec.until(lambda: len(rec.of("resync")) >= 2)
    for snapshot in rec.of("resync"):
        assert [c["CallerIDName"] for c in snapshot.channels] == ["张伟"]
        assert snapshot.channels[0]["BridgeId"] == ""
        member = snapshot.queue_members[0]
        assert (member["Name"], member["Paused"], member["PausedReason"]) == ("王芳", "1", "午休")
        assert [p["Queue"] for p in snapshot.queue_params] == ["hotline"]
        assert snapshot.queue_entries == []
        assert [s["Available"] for s in snapshot.queue_summaries] == ["1"]
    # The list events are answers, not live events.
    assert rec.events("CoreShowChannel") == [] and rec.events("QueueMember") == []


async def test_resync_asks_each_answered_channel_for_its_recording(
    fake: FakeAmi, rec: Recorder
) -> None:
    def channel(name: str, uid: str, state: str) -> bytes:
        return msg(
            "Event: CoreShowChannel",
            "ActionID: *",
            f"Channel: {name}",
            f"Uniqueid: {uid}",
            "Linkedid: 1700000000.1",
            f"ChannelState: {state}",
            "Duration: 00:00:12",
        )

    fake.channels = [
        channel("PJSIP/callers-00000001", "1700000000.1", "6"),
        channel("PJSIP/1001-00000002", "1700000000.2", "6"),
        channel("PJSIP/1002-00000003", "1700000000.3", "5"),  # ringing: never recording
        channel("PJSIP/1003-00000004", "1700000000.4", "6"),  # gone before it was asked
    ]
    recording = "/var/spool/asterisk/monitor/cti/20231114/1700000000.1-1700000000.2.wav"

    async def getvar(conn: Conn, a: dict[str, str]) -> None:
        if a["Channel"].startswith("PJSIP/1003"):
            reply = msg("Response: Error", f"ActionID: {a['ActionID']}", "Message: No such channel")
        else:
            value = recording if a["Channel"].startswith("PJSIP/1001") else ""
            reply = msg(
                "Response: Success",
                f"ActionID: {a['ActionID']}",
                f"Variable: {a['Variable']}",
                f"Value: {value}",
            )
        await conn.send(reply)

    fake.handlers["Getvar"] = getvar
    async with running(make_client(fake, rec), rec):
        pass
    [snapshot] = rec.of("resync")
    assert snapshot.recordings == {"1700000000.2": recording}
    asked = [(a["Channel"], a["Variable"]) for a in fake.actions("Getvar")]
    assert [c for c, _ in asked] == [
        "PJSIP/callers-00000001",
        "PJSIP/1001-00000002",
        "PJSIP/1003-00000004",
    ]
    assert {v for _, v in asked} == {"MIXMONITOR_FILENAME"}


async def test_events_during_resync_are_delivered_after_it_in_order(
    fake: FakeAmi, rec: Recorder
) -> None:
    async def channels_with_live_traffic(conn: Conn, a: dict[str, str]) -> None:
        await conn.send(msg("Event: Newchannel", "Seq: 1"))
        aid = a["ActionID"]
        await conn.send(
            msg("Response: Success", f"ActionID: {aid}", "EventList: start", "Message: follow")
            + msg("Event: Newstate", "Seq: 2")
            + msg("Event: CoreShowChannel", f"ActionID: {aid}", "Channel: PJSIP/1-1")
        )
        await asyncio.sleep(0.02)
        await conn.send(
            msg("Event: Hangup", "Seq: 3")
            + msg(
                "Event: CoreShowChannelsComplete",
                f"ActionID: {aid}",
                "EventList: Complete",
                "ListItems: 1",
            )
            + msg("Event: Newchannel", "Seq: 4")
        )

    fake.handlers["CoreShowChannels"] = channels_with_live_traffic
    async with running(make_client(fake, rec), rec):
        await fake.conns[0].send(msg("Event: Newchannel", "Seq: 5"))
        await rec.until(lambda: len([e for e in rec.events() if "Seq" in e]) == 5)
    kinds = [
        (kind, item["Seq"] if kind == "event" else None)
        for kind, item in rec.log
        if kind == "resync" or (kind == "event" and "Seq" in item)
    ]
    assert kinds == [
        ("resync", None),
        ("event", "1"),
        ("event", "2"),
        ("event", "3"),
        ("event", "4"),
        ("event", "5"),
    ]


async def test_a_resync_refused_while_asterisk_boots_is_asked_again(
    fake: FakeAmi, rec: Recorder
) -> None:
    """Right after a restart Asterisk logs us in before app_queue is loaded; the resync
    waits for it, and the events of the meantime still come after the snapshot."""
    refusals = 2

    async def booting(conn: Conn, a: dict[str, str]) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            await conn.send(msg("Event: Newchannel", f"Seq: {refusals}"))
            await conn.send(
                msg(
                    "Response: Error",
                    f"ActionID: {a['ActionID']}",
                    "Message: Invalid/unknown command: QueueStatus. "
                    "Use Action: ListCommands to show available commands.",
                )
            )
            return
        await FakeAmi._queuestatus(fake, conn, a)

    fake.handlers["QueueStatus"] = booting
    client = AmiClient(
        settings_for(fake.port),
        on_event=rec.on_event,
        on_resync=rec.on_resync,
        resync_retry_s=0.05,
    )
    async with running(client, rec):
        await rec.until(lambda: len(rec.events("Newchannel")) == 2)
        assert client.synced
    assert len(fake.actions("QueueStatus")) == 3
    [snapshot] = rec.of("resync")
    assert [p["Queue"] for p in snapshot.queue_params] == ["hotline"]
    kinds = [k for k, item in rec.log if k == "resync" or (k == "event" and "Seq" in item)]
    assert kinds == ["resync", "event", "event"]


async def test_connection_refused_sets_last_error_and_keeps_trying(rec: Recorder) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AmiClient(settings_for(port), on_event=rec.on_event, on_state=rec.on_state)
    await client.start()
    try:
        await rec.until(lambda: rec.of("state").count(ConnectionState.CONNECTING) >= 2)
        assert client.last_error == f"connection refused to 127.0.0.1:{port}"
        assert not client.logged_in
        with pytest.raises(AmiNotConnected, match="AMI not logged in: connection refused"):
            await actions.ping(client)
    finally:
        await client.stop()


async def test_secret_never_logged(
    fake: FakeAmi, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(fake, rec)
    async with running(client, rec):
        await actions.ping(client)
    bad = AmiClient(
        settings_for(fake.port, ami_secret=SecretStr(SECRET + "-wrong")),
        on_event=rec.on_event,
        on_state=rec.on_state,
    )
    await bad.start()
    try:
        await fake.wait_conns(2)
        await eventually(lambda: "refused" in (bad.last_error or ""))
        refused = bad.last_error or ""
    finally:
        await bad.stop()
    assert refused == f"login as 'cti' at 127.0.0.1:{fake.port} refused: Authentication failed"
    assert "AMI send" in caplog.text  # debug logging of actions was on
    assert SECRET not in caplog.text
    assert all(SECRET.encode() not in conn.received for conn in fake.conns)


async def test_login_answers_the_md5_challenge_and_never_sends_the_secret(
    fake: FakeAmi, rec: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14 row 11: the secret went over the wire in clear (``Secret:``)."""
    caplog.set_level(logging.DEBUG)
    async with running(make_client(fake, rec), rec) as client:
        assert client.logged_in
    conn = fake.conns[0]
    first, second = conn.actions[:2]
    assert (first["Action"], first["AuthType"]) == ("Challenge", "MD5")
    assert second["Action"] == "Login" and second["AuthType"] == "MD5"
    assert "Secret" not in second
    assert second["Key"] == hashlib.md5((str(conn.challenge) + SECRET).encode()).hexdigest()
    assert SECRET.encode() not in conn.received  # nowhere on the wire
    assert SECRET not in caplog.text and second["Key"] not in caplog.text


async def test_no_challenge_means_no_login(fake: FakeAmi, rec: Recorder) -> None:
    async def no_challenge(conn: Conn, a: dict[str, str]) -> None:
        await conn.send(msg("Response: Error", f"ActionID: {a['ActionID']}", "Message: Invalid"))

    fake.handlers["Challenge"] = no_challenge
    client = make_client(fake, rec)
    await client.start()
    try:
        await eventually(lambda: "MD5 challenge" in (client.last_error or ""))
        assert not client.logged_in
    finally:
        await client.stop()
    assert fake.actions("Login") == []  # no clear-text fallback
    assert all(SECRET.encode() not in conn.received for conn in fake.conns)


async def test_stop_fails_pending_actions(fake: FakeAmi, rec: Recorder) -> None:
    fake.handlers["Status"] = lambda conn, a: None
    client = make_client(fake, rec)
    await client.start()
    await rec.until(lambda: bool(rec.of("resync")))
    pending = asyncio.create_task(client.send_action({"Action": "Status"}))
    await eventually(lambda: bool(fake.actions("Status")))
    await client.stop()
    with pytest.raises(AmiConnectionLost):
        await pending


def test_backoff_grows_with_jitter_within_bounds() -> None:
    client = AmiClient(
        settings_for(1, ami_reconnect_min=0.5, ami_reconnect_max=30.0),
        on_event=lambda e: None,
        rng=random.Random(7),
    )
    delays = [client._backoff(n) for n in range(12)]
    assert all(0.5 <= d <= 30.0 for d in delays)
    assert delays[0] == 0.5 and delays[-1] >= 15.0
    assert len(set(delays[1:])) == len(delays[1:])  # jittered


async def test_record_trace_writes_every_byte_after_login(fake: FakeAmi, tmp_path: Path) -> None:
    event = msg("Event: Newchannel", "CallerIDName: 张伟", "Linkedid: 1700000000.1")
    cut = event.index("张".encode()) + 1
    tail = msg("Event: Hangup", "Cause: 16") + b"Event: Partial\r\nKey"

    async def login_and_stream(conn: Conn, a: dict[str, str]) -> None:
        # Login answer and the first event in one write: the trace must start
        # exactly at the event.
        await conn.send(
            msg(
                "Response: Success",
                f"ActionID: {a['ActionID']}",
                "Message: Authentication accepted",
            )
            + msg("Event: FullyBooted", "Status: Fully Booted")
        )
        await conn.send(event[:cut])
        await asyncio.sleep(0.02)
        await conn.send(event[cut:] + tail)

    fake.handlers["Login"] = login_and_stream
    out = tmp_path / "trace.ami"
    stop = asyncio.Event()
    task = asyncio.create_task(record_trace(settings_for(fake.port), out, stop))
    expected = msg("Event: FullyBooted", "Status: Fully Booted") + event + tail
    await eventually(lambda: out.exists() and out.read_bytes() == expected)
    stop.set()
    assert await task == len(expected)
    assert out.read_bytes() == expected


async def test_record_trace_reports_a_closed_connection(fake: FakeAmi, tmp_path: Path) -> None:
    async def login_then_close(conn: Conn, a: dict[str, str]) -> None:
        await fake._login(conn, a)
        conn.drop()

    fake.handlers["Login"] = login_then_close
    out = tmp_path / "trace.ami"
    with pytest.raises(AmiConnectionLost, match="closed while recording"):
        await record_trace(settings_for(fake.port), out, asyncio.Event())
    assert out.read_bytes().startswith(b"Event: FullyBooted")


async def test_record_trace_refused_login(fake: FakeAmi, tmp_path: Path) -> None:
    settings = settings_for(fake.port, ami_secret=SecretStr("wrong"))
    with pytest.raises(AmiActionError, match="Authentication failed"):
        await record_trace(settings, tmp_path / "t.ami", asyncio.Event())


async def test_cti_ami_connected_is_1_while_logged_in_and_0_otherwise(
    fake: FakeAmi, tmp_path: Path
) -> None:
    """Issue 14 row 11: the gauge was declared and never set. Wired as ``cti serve`` wires it."""
    settings = settings_for(fake.port, data_dir=tmp_path, agi_enabled=False, http_enabled=False)
    container = Container(settings)
    assert container.ami is not None

    def connected() -> float | None:
        return container.metrics.registry.get_sample_value("cti_ami_connected")

    try:
        assert connected() == 0
        await container.ami.start()
        await eventually(lambda: connected() == 1)

        async def refuse(conn: Conn, a: dict[str, str]) -> None:
            await conn.send(
                msg(
                    "Response: Error",
                    f"ActionID: {a['ActionID']}",
                    "Message: Authentication failed",
                )
            )

        fake.handlers["Login"] = refuse  # Asterisk restarts with another secret
        fake.conns[0].drop()
        await eventually(lambda: connected() == 0)
        await fake.wait_conns(2)  # it keeps trying, and stays at 0 while refused
        await eventually(lambda: "refused" in (container.ami.last_error or ""))
        assert connected() == 0
        fake.handlers.pop("Login")
        await eventually(lambda: connected() == 1)
        await container.ami.stop()
        assert connected() == 0
    finally:
        await container.ami.stop()
        await container.engine.dispose()
