"""AmiProtocol without sockets: bytes in through data_received, writes captured."""

from __future__ import annotations

import asyncio
import logging

import pytest
from panoramisk.ami_protocol import AMIProtocol as PanoramiskProtocol

from cti.ami.codec import AmiMessage
from cti.ami.protocol import (
    AmiConnectionLost,
    AmiProtocol,
    ResponseKind,
    encode_action,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = b"Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted\r\n\r\n"
CHINESE_EVENT = (
    "Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\nCallerIDNum: 13800138000\r\n"
    "CallerIDName: 张伟\r\nLinkedid: 1700000000.1\r\n\r\n"
).encode()


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def make(
    events: list[AmiMessage], tap: bytearray | None = None
) -> tuple[AmiProtocol, FakeTransport]:
    protocol = AmiProtocol(
        events.append, tap=None if tap is None else tap.extend, tap_after="login-1"
    )
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_utf8_name_split_at_every_byte_survives() -> None:
    stream = BANNER + CHINESE_EVENT
    for cut in range(1, len(stream)):
        events: list[AmiMessage] = []
        protocol, _ = make(events)
        protocol.data_received(stream[:cut])
        protocol.data_received(stream[cut:])
        assert [e["CallerIDName"] for e in events] == ["张伟"], cut


async def test_panoramisk_alone_loses_the_split_character() -> None:
    # Documents the bug the subclass exists for: if this ever passes upstream,
    # the workaround can be reconsidered.
    seen: list[str] = []

    class Factory:
        def dispatch(self, message: dict[str, str]) -> None:
            seen.append(message["CallerIDName"])

    protocol = PanoramiskProtocol()
    protocol.connection_made(FakeTransport())
    protocol.factory = Factory()
    protocol.encoding = "utf8"
    cut = CHINESE_EVENT.index("张".encode()) + 1
    protocol.data_received(CHINESE_EVENT[:cut])
    protocol.data_received(CHINESE_EVENT[cut:])
    assert seen != ["张伟"]


async def test_empty_header_value_is_kept() -> None:
    events: list[AmiMessage] = []
    protocol, _ = make(events)
    protocol.data_received(BANNER + b"Event: Newchannel\r\nCallerIDName:\r\nExten: 400\r\n\r\n")
    assert events[0]["CallerIDName"] == ""
    assert events[0]["Exten"] == "400"


async def test_single_response_resolves_queue_add() -> None:
    events: list[AmiMessage] = []
    protocol, transport = make(events)
    future = protocol.send_action("a1", {"Action": "QueueAdd", "Queue": "q"}, ResponseKind.SINGLE)
    assert transport.written.startswith(b"Action: QueueAdd\r\n")
    protocol.data_received(
        b"Response: Success\r\nActionID: a1\r\nMessage: Added interface to queue\r\n\r\n"
    )
    assert future.done()
    assert future.result()[0]["Message"] == "Added interface to queue"
    assert protocol.pending_count == 0


async def test_list_action_collects_until_complete_and_passes_other_events_on() -> None:
    events: list[AmiMessage] = []
    protocol, _ = make(events)
    future = protocol.send_action("l1", {"Action": "CoreShowChannels"}, ResponseKind.LIST)
    protocol.data_received(
        b"Response: Success\r\nActionID: l1\r\nEventList: start\r\n"
        b"Message: Channels will follow\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: l1\r\nChannel: PJSIP/1001-00000001\r\n\r\n"
        b"Event: Hangup\r\nChannel: PJSIP/1002-00000002\r\n\r\n"
    )
    assert not future.done()
    protocol.data_received(
        b"Event: CoreShowChannelsComplete\r\nActionID: l1\r\nEventList: Complete\r\n"
        b"ListItems: 1\r\n\r\n"
    )
    names = [m.get("Event") for m in future.result()]
    assert names == [None, "CoreShowChannel", "CoreShowChannelsComplete"]
    assert [e["Event"] for e in events] == ["Hangup"]


async def test_originate_waits_for_originate_response() -> None:
    protocol, _ = make([])
    future = protocol.send_action(
        "o1", {"Action": "Originate", "Async": "true"}, ResponseKind.ORIGINATE
    )
    protocol.data_received(
        b"Response: Success\r\nActionID: o1\r\nMessage: Originate successfully queued\r\n\r\n"
    )
    assert not future.done()
    protocol.data_received(
        b"Event: OriginateResponse\r\nActionID: o1\r\nResponse: Success\r\nReason: 4\r\n\r\n"
    )
    assert future.result()[-1]["Reason"] == "4"


async def test_originate_response_overtaking_the_acknowledgement_still_completes() -> None:
    protocol, _ = make([])
    future = protocol.send_action(
        "o1", {"Action": "Originate", "Async": "true"}, ResponseKind.ORIGINATE
    )
    protocol.data_received(
        b"Event: OriginateResponse\r\nActionID: o1\r\nResponse: Failure\r\nReason: 5\r\n\r\n"
    )
    assert not future.done()
    protocol.data_received(
        b"Response: Success\r\nActionID: o1\r\nMessage: Originate successfully queued\r\n\r\n"
    )
    response, event = future.result()
    assert response["Message"] == "Originate successfully queued"
    assert event["Reason"] == "5"


async def test_empty_list_answered_in_one_message_completes() -> None:
    protocol, _ = make([])
    future = protocol.send_action("l1", {"Action": "QueueStatus"}, ResponseKind.LIST)
    protocol.data_received(
        b"Response: Success\r\nActionID: l1\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
    )
    assert len(future.result()) == 1


async def test_refused_originate_completes_on_the_error_response() -> None:
    protocol, _ = make([])
    future = protocol.send_action("o1", {"Action": "Originate"}, ResponseKind.ORIGINATE)
    protocol.data_received(b"Response: Error\r\nActionID: o1\r\nMessage: Originate failed\r\n\r\n")
    assert future.result()[0]["Response"] == "Error"


async def test_connection_lost_fails_every_pending_action() -> None:
    protocol, _ = make([])
    single = protocol.send_action("a1", {"Action": "Ping"}, ResponseKind.SINGLE)
    origin = protocol.send_action("a2", {"Action": "Originate"}, ResponseKind.ORIGINATE)
    protocol.data_received(
        b"Response: Success\r\nActionID: a2\r\nMessage: Originate successfully queued\r\n\r\n"
    )
    protocol.connection_lost(None)
    for future in (single, origin):
        with pytest.raises(AmiConnectionLost, match="not re-sent"):
            future.result()
    assert protocol.lost.done()


async def test_handler_exception_is_logged_and_later_events_still_arrive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def handler(event: AmiMessage) -> None:
        seen.append(event["Event"])
        if event["Event"] == "Bad":
            raise RuntimeError("boom")

    protocol = AmiProtocol(handler)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(b"Event: Bad\r\n\r\nEvent: Good\r\n\r\n")
    assert seen == ["Bad", "Good"]
    assert not transport.closing
    assert "AMI event handler failed" in caplog.text


async def test_held_events_are_released_in_order() -> None:
    events: list[AmiMessage] = []
    protocol, _ = make(events)
    protocol.hold_events()
    protocol.data_received(b"Event: A\r\n\r\nEvent: B\r\n\r\n")
    assert events == []
    protocol.release_events()
    protocol.data_received(b"Event: C\r\n\r\n")
    assert [e["Event"] for e in events] == ["A", "B", "C"]


async def test_damaged_message_is_skipped_and_the_next_one_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[AmiMessage] = []
    protocol, _ = make(events)
    with caplog.at_level(logging.ERROR):
        protocol.data_received(b"Event: A\r\n\r\ngarbage line\r\n\r\nEvent: B\r\n\r\n")
        protocol.data_received(b"Event: C\r\n\r\n")
    assert [e["Event"] for e in events] == ["A", "B", "C"]
    assert "damaged" in caplog.text


async def test_tap_starts_right_after_the_login_response_at_every_split() -> None:
    after = CHINESE_EVENT + b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
    challenge = b"Response: Success\r\nActionID: challenge-1\r\nChallenge: 123456789\r\n\r\n"
    stream = BANNER + challenge + LOGIN_OK + after
    for cut in range(1, len(stream)):
        tapped = bytearray()
        protocol, _ = make([], tap=tapped)
        protocol.data_received(stream[:cut])
        protocol.data_received(stream[cut:])
        assert bytes(tapped) == after, cut


def test_encode_action_puts_action_first_and_repeats_lists() -> None:
    raw = encode_action({"Variable": ["A=1", "B=2"], "Action": "Originate", "Async": "true"})
    assert raw == (b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nAsync: true\r\n\r\n")


@pytest.mark.parametrize(
    "headers",
    [
        {"Action": "Hangup", "Channel": "PJSIP/1\r\nAction: Logoff"},
        {"Action": "Originate", "Variable": ["A=1", "B=2\nAction: Hangup"]},
        {"Action": "Ping", "Bad Key": "x"},
        {"Action": "Ping\r\n"},
        {"Channel": "no action"},
    ],
)
def test_encode_action_refuses_injection(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        encode_action(headers)


async def test_bad_headers_write_nothing() -> None:
    protocol, transport = make([])
    with pytest.raises(ValueError):
        protocol.send_action("x", {"Action": "Hangup", "Channel": "a\rb"}, ResponseKind.SINGLE)
    assert transport.written == b""
    assert protocol.pending_count == 0
