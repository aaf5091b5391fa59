"""Typed helpers for the AMI actions the service sends (Asterisk 22).

Every helper validates its input before anything is sent: channel, extension,
context, queue and interface names must match Asterisk's usual charset, and no
header value may contain CR or LF (a value such as ``"x\\r\\nAction: Hangup"``
would otherwise inject a second action). Bad input raises :class:`ValueError`
and never reaches Asterisk.

Recording pause: ``PauseMonitor`` went away with app_monitor (Asterisk 21);
for MixMonitor recordings Asterisk 22 offers ``MixMonitorMute``, which writes
silence for the muted direction(s) while keeping the file going. That is what
:func:`mix_monitor_pause` / :func:`mix_monitor_resume` send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from cti.ami.codec import AmiMessage
from cti.ami.protocol import Headers

__all__ = [
    "ActionSender",
    "OriginateResult",
    "QueueStatusResult",
    "blind_transfer",
    "command",
    "core_show_channels",
    "hangup",
    "mix_monitor_pause",
    "mix_monitor_resume",
    "originate",
    "ping",
    "queue_add",
    "queue_pause",
    "queue_remove",
    "queue_status",
    "queue_summary",
    "redirect",
]


class ActionSender(Protocol):
    """What the helpers need; :class:`cti.ami.client.AmiClient` provides it."""

    async def send_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> AmiMessage: ...

    async def send_list_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> list[AmiMessage]: ...

    async def send_originate(
        self, headers: Headers, *, timeout: float | None = None
    ) -> AmiMessage: ...


# "PJSIP/1001", "PJSIP/13800138000@trunk", "Local/8001@agents/n", "SIP/peer-0000002a".
_CHANNEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@+:/#*;=-]{1,200}$")
_EXTEN_RE = re.compile(r"^[A-Za-z0-9+*#_.-]{1,80}$")
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,79}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_APP_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# "CTI_ORDER_ID", "__INHERITED", "CALLERID(name)".
_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_-]*\))?$")
_CAUSE_MAX = 127

# OriginateResponse "Reason" values (Asterisk's AST_CONTROL_* codes).
ORIGINATE_REASONS: Mapping[int, str] = {
    0: "failed",
    1: "hangup",
    3: "no_answer",
    4: "answered",
    5: "busy",
    8: "congestion",
}


def check_channel(channel: str) -> str:
    """``channel`` if it is a dial string Originate and ``Dial()`` take as one channel
    (no ``&`` or ``,`` to add others or options); else ValueError."""
    return _check(channel, _CHANNEL_RE, "channel")


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _text(value: str, what: str, *, max_len: int = 256) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"{what} must not contain CR, LF or NUL")
    if len(value) > max_len:
        raise ValueError(f"{what} is longer than {max_len} characters")
    return value


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """The outcome of an async Originate, from its ``OriginateResponse`` event."""

    success: bool
    reason: int
    reason_text: str
    channel: str
    uniqueid: str
    event: AmiMessage

    @classmethod
    def from_event(cls, event: AmiMessage) -> OriginateResult:
        raw = event.get("Reason") or "0"
        reason = int(raw) if raw.isdigit() else 0
        return cls(
            success=event.get("Response") == "Success",
            reason=reason,
            reason_text=ORIGINATE_REASONS.get(reason, f"reason_{reason}"),
            channel=event.get("Channel") or "",
            uniqueid=event.get("Uniqueid") or "",
            event=event,
        )


@dataclass(frozen=True, slots=True)
class QueueStatusResult:
    params: list[AmiMessage]
    members: list[AmiMessage]
    entries: list[AmiMessage]


async def originate(
    ami: ActionSender,
    channel: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int = 1,
    application: str | None = None,
    data: str | None = None,
    caller_id: str | None = None,
    ring_timeout: float = 30.0,
    variables: Mapping[str, str] | None = None,
    account: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    answer_margin: float = 10.0,
) -> OriginateResult:
    """Dial ``channel`` and, once answered, run ``context``/``exten`` or ``application``.

    Always sent with ``Async: true`` and an ActionID, so the answer is the
    ``OriginateResponse`` event that arrives when the call is answered or
    fails; the wait is ``ring_timeout + answer_margin`` seconds. Never re-sent:
    if the connection drops first, :class:`~cti.ami.protocol.AmiConnectionLost`
    is raised and the outcome is unknown.
    """
    headers: dict[str, str | int | list[str]] = {
        "Action": "Originate",
        "Channel": _check(channel, _CHANNEL_RE, "channel"),
        "Async": "true",
    }
    if application is not None:
        if context is not None or exten is not None:
            raise ValueError("give either application or context/exten, not both")
        headers["Application"] = _check(application, _APP_RE, "application")
        if data is not None:
            headers["Data"] = _text(data, "data", max_len=1024)
    else:
        if context is None or exten is None:
            raise ValueError("originate needs context and exten (or an application)")
        if not isinstance(priority, int) or priority < 1:
            raise ValueError(f"invalid priority: {priority!r}")
        headers["Context"] = _check(context, _CONTEXT_RE, "context")
        headers["Exten"] = _check(exten, _EXTEN_RE, "extension")
        headers["Priority"] = priority
    if not 0 < ring_timeout <= 3600:
        raise ValueError(f"invalid ring timeout: {ring_timeout!r}")
    headers["Timeout"] = int(ring_timeout * 1000)
    if caller_id is not None:
        headers["CallerID"] = _text(caller_id, "caller id")
    if account is not None:
        headers["Account"] = _text(account, "account", max_len=80)
    if channel_id is not None:
        headers["ChannelId"] = _check(channel_id, _QUEUE_RE, "channel id")
    if other_channel_id is not None:
        headers["OtherChannelId"] = _check(other_channel_id, _QUEUE_RE, "other channel id")
    if variables:
        headers["Variable"] = [
            f"{_check(k, _VARIABLE_RE, 'variable name')}={_text(v, f'variable {k}', max_len=1024)}"
            for k, v in variables.items()
        ]
    event = await ami.send_originate(headers, timeout=ring_timeout + answer_margin)
    return OriginateResult.from_event(event)


async def queue_add(
    ami: ActionSender,
    queue: str,
    interface: str,
    member_name: str | None = None,
    penalty: int = 0,
    paused: bool = False,
    state_interface: str | None = None,
    reason: str | None = None,
    wrapup_time: int | None = None,
) -> AmiMessage:
    """Add a dynamic member; answered by one response (panoramisk would wait forever).

    ``wrapup_time`` (seconds) is the member's own wrap-up, overriding the queue's.
    """
    if not isinstance(penalty, int) or penalty < 0:
        raise ValueError(f"invalid penalty: {penalty!r}")
    if wrapup_time is not None and (
        not isinstance(wrapup_time, int) or isinstance(wrapup_time, bool) or wrapup_time < 0
    ):
        raise ValueError(f"invalid wrap-up time: {wrapup_time!r}")
    headers: dict[str, str | int] = {
        "Action": "QueueAdd",
        "Queue": _check(queue, _QUEUE_RE, "queue"),
        "Interface": _check(interface, _CHANNEL_RE, "interface"),
        "Penalty": penalty,
        "Paused": _bool(paused),
    }
    if member_name is not None:
        headers["MemberName"] = _text(member_name, "member name", max_len=80)
    if state_interface is not None:
        headers["StateInterface"] = _check(state_interface, _CHANNEL_RE, "state interface")
    if reason is not None:
        headers["Reason"] = _text(reason, "reason", max_len=80)
    if wrapup_time is not None:
        headers["Wrapuptime"] = wrapup_time
    return await ami.send_action(headers)


async def queue_remove(ami: ActionSender, queue: str, interface: str) -> AmiMessage:
    return await ami.send_action(
        {
            "Action": "QueueRemove",
            "Queue": _check(queue, _QUEUE_RE, "queue"),
            "Interface": _check(interface, _CHANNEL_RE, "interface"),
        }
    )


async def queue_pause(
    ami: ActionSender,
    queue: str | None,
    interface: str,
    paused: bool,
    reason: str | None = None,
) -> AmiMessage:
    """Pause or unpause a member in ``queue``, or in all its queues when ``queue`` is None."""
    headers: dict[str, str] = {
        "Action": "QueuePause",
        "Interface": _check(interface, _CHANNEL_RE, "interface"),
        "Paused": _bool(paused),
    }
    if queue is not None:
        headers["Queue"] = _check(queue, _QUEUE_RE, "queue")
    if reason is not None:
        headers["Reason"] = _text(reason, "reason", max_len=80)
    return await ami.send_action(headers)


async def _mix_monitor_mute(
    ami: ActionSender, channel: str, muted: bool, direction: Literal["read", "write", "both"]
) -> AmiMessage:
    if direction not in ("read", "write", "both"):
        raise ValueError(f"invalid direction: {direction!r}")
    return await ami.send_action(
        {
            "Action": "MixMonitorMute",
            "Channel": _check(channel, _CHANNEL_RE, "channel"),
            "Direction": direction,
            "State": "1" if muted else "0",
        }
    )


async def mix_monitor_pause(
    ami: ActionSender, channel: str, direction: Literal["read", "write", "both"] = "both"
) -> AmiMessage:
    """Pause a recording (e.g. while the caller reads out card details): silence is written."""
    return await _mix_monitor_mute(ami, channel, True, direction)


async def mix_monitor_resume(
    ami: ActionSender, channel: str, direction: Literal["read", "write", "both"] = "both"
) -> AmiMessage:
    return await _mix_monitor_mute(ami, channel, False, direction)


async def command(ami: ActionSender, cmd: str) -> list[str]:
    """Run a CLI command; return its ``Output`` lines (AMI 2.x, Asterisk ≥ 14)."""
    cmd = _text(cmd, "command", max_len=1024)
    if not cmd.strip():
        raise ValueError("empty command")
    response = await ami.send_action({"Action": "Command", "Command": cmd})
    return response.getall("Output")


async def core_show_channels(ami: ActionSender) -> list[AmiMessage]:
    """Every live channel, as ``CoreShowChannel`` events."""
    events = await ami.send_list_action({"Action": "CoreShowChannels"})
    return [e for e in events if e.get("Event") == "CoreShowChannel"]


async def queue_status(
    ami: ActionSender, queue: str | None = None, member: str | None = None
) -> QueueStatusResult:
    headers: dict[str, str] = {"Action": "QueueStatus"}
    if queue is not None:
        headers["Queue"] = _check(queue, _QUEUE_RE, "queue")
    if member is not None:
        headers["Member"] = _check(member, _CHANNEL_RE, "member")
    events = await ami.send_list_action(headers)
    return QueueStatusResult(
        params=[e for e in events if e.get("Event") == "QueueParams"],
        members=[e for e in events if e.get("Event") == "QueueMember"],
        entries=[e for e in events if e.get("Event") == "QueueEntry"],
    )


async def queue_summary(ami: ActionSender, queue: str | None = None) -> list[AmiMessage]:
    headers: dict[str, str] = {"Action": "QueueSummary"}
    if queue is not None:
        headers["Queue"] = _check(queue, _QUEUE_RE, "queue")
    events = await ami.send_list_action(headers)
    return [e for e in events if e.get("Event") == "QueueSummary"]


async def ping(ami: ActionSender, timeout: float | None = None) -> AmiMessage:
    return await ami.send_action({"Action": "Ping"}, timeout=timeout)


async def blind_transfer(ami: ActionSender, channel: str, exten: str, context: str) -> AmiMessage:
    """Send the party bridged with ``channel`` to ``exten@context``."""
    return await ami.send_action(
        {
            "Action": "BlindTransfer",
            "Channel": _check(channel, _CHANNEL_RE, "channel"),
            "Exten": _check(exten, _EXTEN_RE, "extension"),
            "Context": _check(context, _CONTEXT_RE, "context"),
        }
    )


async def redirect(
    ami: ActionSender,
    channel: str,
    exten: str,
    context: str,
    priority: int = 1,
    *,
    extra_channel: str | None = None,
    extra_exten: str | None = None,
    extra_context: str | None = None,
    extra_priority: int | None = None,
) -> AmiMessage:
    """Move ``channel`` (and optionally a second one) to a dialplan location."""
    if not isinstance(priority, int) or priority < 1:
        raise ValueError(f"invalid priority: {priority!r}")
    headers: dict[str, str | int] = {
        "Action": "Redirect",
        "Channel": _check(channel, _CHANNEL_RE, "channel"),
        "Exten": _check(exten, _EXTEN_RE, "extension"),
        "Context": _check(context, _CONTEXT_RE, "context"),
        "Priority": priority,
    }
    if extra_channel is not None:
        headers["ExtraChannel"] = _check(extra_channel, _CHANNEL_RE, "extra channel")
        headers["ExtraExten"] = _check(extra_exten or exten, _EXTEN_RE, "extra extension")
        headers["ExtraContext"] = _check(extra_context or context, _CONTEXT_RE, "extra context")
        extra = priority if extra_priority is None else extra_priority
        if not isinstance(extra, int) or extra < 1:
            raise ValueError(f"invalid extra priority: {extra!r}")
        headers["ExtraPriority"] = extra
    return await ami.send_action(headers)


async def hangup(ami: ActionSender, channel: str, cause: int | None = None) -> AmiMessage:
    """Hang up one channel by its exact name (Asterisk's ``/regex/`` form is refused)."""
    headers: dict[str, str | int] = {
        "Action": "Hangup",
        "Channel": _check(channel, _CHANNEL_RE, "channel"),
    }
    if cause is not None:
        if not isinstance(cause, int) or not 0 < cause <= _CAUSE_MAX:
            raise ValueError(f"invalid hang-up cause: {cause!r}")
        headers["Cause"] = cause
    return await ami.send_action(headers)
