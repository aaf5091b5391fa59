"""Resync: rebuild live state from Asterisk after every (re)connect and login.

While we were away calls started, were queued, answered and hung up; the
tracker learns what exists *now* from three list actions: ``CoreShowChannels``
(every live channel), ``QueueStatus`` (queue parameters, members with their
state and pause, waiting callers) and ``QueueSummary`` (per-queue figures).
Recordings that began meanwhile (or before this process started) are asked of
each answered channel: its ``MIXMONITOR_FILENAME`` (``Getvar``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cti.ami.codec import AmiMessage
from cti.ami.protocol import AmiActionError, Headers

__all__ = ["ListActionSender", "ResyncSnapshot", "collect_snapshot"]

RECORDING_VARIABLE = "MIXMONITOR_FILENAME"
UP = "6"
"""``ChannelState`` of an answered channel: only those can be recording."""

log = logging.getLogger(__name__)


class ListActionSender(Protocol):
    async def send_list_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> list[AmiMessage]: ...

    async def send_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> AmiMessage: ...


@dataclass(frozen=True, slots=True)
class ResyncSnapshot:
    """What Asterisk reported right after login, as its own events.

    ``channels``: ``CoreShowChannel`` events (Channel, Uniqueid, Linkedid,
    CallerIDNum, CallerIDName, ConnectedLineNum, Context, Exten, ChannelState,
    Application, BridgeId, Duration...). ``queue_params``: ``QueueParams``;
    ``queue_members``: ``QueueMember`` (Queue, Name, Location, StateInterface,
    Status, Paused, PausedReason, InCall, LastCall, CallsTaken...);
    ``queue_entries``: ``QueueEntry`` (Queue, Position, Channel, Uniqueid,
    CallerIDNum, CallerIDName, Wait, Priority); ``queue_summaries``:
    ``QueueSummary`` (Queue, LoggedIn, Available, Callers, HoldTime,
    TalkTime, LongestHoldTime). ``recordings``: Uniqueid -> ``MIXMONITOR_FILENAME``
    of the answered channels that have one.
    """

    channels: list[AmiMessage]
    queue_params: list[AmiMessage]
    queue_members: list[AmiMessage]
    queue_entries: list[AmiMessage]
    queue_summaries: list[AmiMessage]
    recordings: Mapping[str, str] = field(default_factory=dict)


def _of(events: list[AmiMessage], name: str) -> list[AmiMessage]:
    return [event for event in events if event.get("Event") == name]


async def recording_files(sender: ListActionSender, channels: list[AmiMessage]) -> dict[str, str]:
    """``MIXMONITOR_FILENAME`` of each answered channel that has one, by Uniqueid.

    One ``Getvar`` per channel, one after the other: a resync is rare, and Asterisk
    answers each at once. A channel gone meanwhile ("No such channel") is skipped.
    """
    files: dict[str, str] = {}
    for info in channels:
        uid, name = info.get("Uniqueid"), info.get("Channel")
        if info.get("ChannelState") != UP or not uid or not name:
            continue
        try:
            reply = await sender.send_action(
                {"Action": "Getvar", "Channel": name, "Variable": RECORDING_VARIABLE}
            )
        except (AmiActionError, ValueError):
            continue
        if value := (reply.get("Value") or "").strip():
            files[uid] = value
    return files


async def collect_snapshot(sender: ListActionSender) -> ResyncSnapshot:
    """Run the three list actions one after the other and sort their events."""
    channels = await sender.send_list_action({"Action": "CoreShowChannels"})
    status = await sender.send_list_action({"Action": "QueueStatus"})
    summary = await sender.send_list_action({"Action": "QueueSummary"})
    live = _of(channels, "CoreShowChannel")
    snapshot = ResyncSnapshot(
        channels=live,
        queue_params=_of(status, "QueueParams"),
        queue_members=_of(status, "QueueMember"),
        queue_entries=_of(status, "QueueEntry"),
        queue_summaries=_of(summary, "QueueSummary"),
        recordings=await recording_files(sender, live),
    )
    log.info(
        "AMI resync: %d channels, %d queues, %d members, %d waiting callers, %d recordings",
        len(snapshot.channels),
        len(snapshot.queue_params),
        len(snapshot.queue_members),
        len(snapshot.queue_entries),
        len(snapshot.recordings),
    )
    return snapshot
