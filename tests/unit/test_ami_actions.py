"""Typed action helpers: the headers they send, and the input they refuse."""

from __future__ import annotations

from typing import Any

import pytest

from cti.ami import actions
from cti.ami.codec import AmiMessage
from cti.ami.protocol import Headers


def message(*pairs: tuple[str, str]) -> AmiMessage:
    return AmiMessage(tuple(pairs))


class Sender:
    """Records what would be sent; answers like Asterisk 22 would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], float | None]] = []

    async def send_action(self, headers: Headers, *, timeout: float | None = None) -> AmiMessage:
        self.sent.append(("single", dict(headers), timeout))
        if headers["Action"] == "Command":
            return message(
                ("Response", "Success"),
                ("Message", "Command output follows"),
                ("Output", "Name/username  Host"),
                ("Output", ""),
            )
        return message(("Response", "Success"), ("Message", "ok"))

    async def send_list_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> list[AmiMessage]:
        self.sent.append(("list", dict(headers), timeout))
        return [
            message(("Event", "QueueParams"), ("Queue", "hotline")),
            message(("Event", "QueueMember"), ("Queue", "hotline"), ("Name", "王芳")),
            message(("Event", "QueueEntry"), ("Queue", "hotline"), ("Position", "1")),
            message(("Event", "QueueSummary"), ("Queue", "hotline")),
            message(("Event", "CoreShowChannel"), ("Channel", "PJSIP/1-1")),
        ]

    async def send_originate(self, headers: Headers, *, timeout: float | None = None) -> AmiMessage:
        self.sent.append(("originate", dict(headers), timeout))
        return message(
            ("Event", "OriginateResponse"),
            ("Response", "Failure"),
            ("Reason", "5"),
            ("Channel", str(headers["Channel"])),
            ("Uniqueid", "<null>"),
        )

    @property
    def last(self) -> dict[str, Any]:
        return self.sent[-1][1]


async def test_originate_headers() -> None:
    ami = Sender()
    result = await actions.originate(
        ami,
        "PJSIP/13800138000@trunk",
        context="confirm",
        exten="s",
        caller_id='"订单确认" <4008001234>',
        ring_timeout=25,
        variables={"CTI_ORDER_ID": "A1001", "__CTI_JOB": "7"},
        channel_id="job-7-customer",
    )
    kind, headers, timeout = ami.sent[0]
    assert kind == "originate"
    assert headers["Async"] == "true"
    assert headers["Timeout"] == 25000
    assert headers["Priority"] == 1
    assert headers["Variable"] == ["CTI_ORDER_ID=A1001", "__CTI_JOB=7"]
    assert headers["ChannelId"] == "job-7-customer"
    assert timeout is not None and timeout > 25
    assert not result.success and result.reason_text == "busy"


async def test_originate_to_application() -> None:
    ami = Sender()
    await actions.originate(ami, "Local/8001@agents/n", application="Playback", data="hello")
    assert ami.last["Application"] == "Playback" and "Context" not in ami.last


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channel": "/.*/"},  # Hangup-style regex, or any odd channel
        {"channel": "PJSIP/1001\r\nAction: Hangup"},
        {"channel": "PJSIP/10 01"},
        {"exten": "s\r\nAction: Logoff"},
        {"exten": "1 2"},
        {"context": "confirm,1"},
        {"context": ""},
        {"caller_id": "张伟\r\n"},
        {"caller_id": "a\nb"},
        {"variables": {"X": "1\r\nAction: Hangup"}},
        {"variables": {"BAD NAME": "1"}},
        {"variables": {"A=B": "1"}},
        {"priority": 0},
        {"ring_timeout": 0},
        {"application": "Dial"},  # both application and context/exten
        {"context": None},
    ],
)
async def test_originate_refuses_bad_input_before_sending(kwargs: dict[str, Any]) -> None:
    ami = Sender()
    args: dict[str, Any] = {"channel": "PJSIP/1001", "context": "confirm", "exten": "s"}
    args.update(kwargs)
    channel = args.pop("channel")
    with pytest.raises(ValueError):
        await actions.originate(ami, channel, **args)
    assert ami.sent == []


async def test_queue_add_remove_pause() -> None:
    ami = Sender()
    await actions.queue_add(ami, "hotline", "PJSIP/1001", "王芳", 2, True, "PJSIP/1001", "培训")
    assert ami.last == {
        "Action": "QueueAdd",
        "Queue": "hotline",
        "Interface": "PJSIP/1001",
        "Penalty": 2,
        "Paused": "true",
        "MemberName": "王芳",
        "StateInterface": "PJSIP/1001",
        "Reason": "培训",
    }
    await actions.queue_add(ami, "hotline", "PJSIP/1002", "1002", wrapup_time=15)
    assert ami.last == {
        "Action": "QueueAdd",
        "Queue": "hotline",
        "Interface": "PJSIP/1002",
        "Penalty": 0,
        "Paused": "false",
        "MemberName": "1002",
        "Wrapuptime": 15,
    }
    await actions.queue_remove(ami, "hotline", "PJSIP/1001")
    assert ami.last == {"Action": "QueueRemove", "Queue": "hotline", "Interface": "PJSIP/1001"}
    await actions.queue_pause(ami, None, "PJSIP/1001", True, "午休")
    assert ami.last == {
        "Action": "QueuePause",
        "Interface": "PJSIP/1001",
        "Paused": "true",
        "Reason": "午休",
    }
    await actions.queue_pause(ami, "hotline", "PJSIP/1001", False)
    assert ami.last["Queue"] == "hotline" and ami.last["Paused"] == "false"


@pytest.mark.parametrize(
    "call",
    [
        lambda ami: actions.queue_add(ami, "hot line", "PJSIP/1001"),
        lambda ami: actions.queue_add(ami, "hotline", "PJSIP/1001", "王\r\n芳"),
        lambda ami: actions.queue_add(ami, "hotline", "PJSIP/1001", penalty=-1),
        lambda ami: actions.queue_add(ami, "hotline", "PJSIP/1001", wrapup_time=-5),
        lambda ami: actions.queue_pause(ami, None, "PJSIP/1001", True, "a\nb"),
        lambda ami: actions.queue_remove(ami, "hotline", "1001"),
        lambda ami: actions.hangup(ami, "/PJSIP/.*/"),
        lambda ami: actions.hangup(ami, "PJSIP/1001-1", cause=999),
        lambda ami: actions.blind_transfer(ami, "PJSIP/1001-1", "8002\r\n", "agents"),
        lambda ami: actions.redirect(ami, "PJSIP/1001-1", "8002", "agents", priority=0),
        lambda ami: actions.command(ami, "core show channels\r\nAction: Logoff"),
        lambda ami: actions.command(ami, "  "),
        lambda ami: actions.mix_monitor_pause(ami, "PJSIP/1001-1", "left"),
    ],
)
async def test_helpers_refuse_bad_input_before_sending(call: Any) -> None:
    ami = Sender()
    with pytest.raises(ValueError):
        await call(ami)
    assert ami.sent == []


async def test_mix_monitor_pause_and_resume_use_mix_monitor_mute() -> None:
    ami = Sender()
    await actions.mix_monitor_pause(ami, "PJSIP/1001-00000003")
    assert ami.last == {
        "Action": "MixMonitorMute",
        "Channel": "PJSIP/1001-00000003",
        "Direction": "both",
        "State": "1",
    }
    await actions.mix_monitor_resume(ami, "PJSIP/1001-00000003")
    assert ami.last["State"] == "0"


async def test_command_returns_output_lines_including_empty_ones() -> None:
    ami = Sender()
    assert await actions.command(ami, "pjsip show endpoints") == ["Name/username  Host", ""]


async def test_list_helpers_sort_events() -> None:
    ami = Sender()
    status = await actions.queue_status(ami, "hotline")
    assert ami.last == {"Action": "QueueStatus", "Queue": "hotline"}
    assert [m["Name"] for m in status.members] == ["王芳"]
    assert len(status.params) == 1 and len(status.entries) == 1
    assert [m["Queue"] for m in await actions.queue_summary(ami)] == ["hotline"]
    assert [m["Channel"] for m in await actions.core_show_channels(ami)] == ["PJSIP/1-1"]


async def test_transfer_redirect_hangup_headers() -> None:
    ami = Sender()
    await actions.blind_transfer(ami, "PJSIP/1001-00000001", "8002", "agents")
    assert ami.last == {
        "Action": "BlindTransfer",
        "Channel": "PJSIP/1001-00000001",
        "Exten": "8002",
        "Context": "agents",
    }
    await actions.redirect(
        ami, "PJSIP/trunk-00000001", "8002", "agents", extra_channel="PJSIP/1001-00000002"
    )
    assert ami.last["ExtraChannel"] == "PJSIP/1001-00000002"
    assert ami.last["ExtraExten"] == "8002" and ami.last["ExtraPriority"] == 1
    await actions.hangup(ami, "PJSIP/1001-00000001", cause=16)
    assert ami.last == {"Action": "Hangup", "Channel": "PJSIP/1001-00000001", "Cause": 16}
    await actions.ping(ami, timeout=1.0)
    assert ami.sent[-1] == ("single", {"Action": "Ping"}, 1.0)
