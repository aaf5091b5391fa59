"""Resync: rebuild live state from Asterisk after every (re)connect and login.

While we were away calls started, were queued, answered and hung up; the
tracker learns what exists *now* from three list actions: ``CoreShowChannels``
(every live channel), ``QueueStatus`` (queue parameters, members with their
state and pause, waiting callers) and ``QueueSummary`` (per-queue figures).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from cti.ami.codec import AmiMessage
from cti.ami.protocol import Headers

__all__ = ["ListActionSender", "ResyncSnapshot", "collect_snapshot"]

log = logging.getLogger(__name__)


class ListActionSender(Protocol):
    async def send_list_action(
        self, headers: Headers, *, timeout: float | None = None
    ) -> list[AmiMessage]: ...


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
    TalkTime, LongestHoldTime).
    """

    channels: list[AmiMessage]
    queue_params: list[AmiMessage]
    queue_members: list[AmiMessage]
    queue_entries: list[AmiMessage]
    queue_summaries: list[AmiMessage]


def _of(events: list[AmiMessage], name: str) -> list[AmiMessage]:
    return [event for event in events if event.get("Event") == name]


async def collect_snapshot(sender: ListActionSender) -> ResyncSnapshot:
    """Run the three list actions one after the other and sort their events."""
    channels = await sender.send_list_action({"Action": "CoreShowChannels"})
    status = await sender.send_list_action({"Action": "QueueStatus"})
    summary = await sender.send_list_action({"Action": "QueueSummary"})
    snapshot = ResyncSnapshot(
        channels=_of(channels, "CoreShowChannel"),
        queue_params=_of(status, "QueueParams"),
        queue_members=_of(status, "QueueMember"),
        queue_entries=_of(status, "QueueEntry"),
        queue_summaries=_of(summary, "QueueSummary"),
    )
    log.info(
        "AMI resync: %d channels, %d queues, %d members, %d waiting callers",
        len(snapshot.channels),
        len(snapshot.queue_params),
        len(snapshot.queue_members),
        len(snapshot.queue_entries),
    )
    return snapshot
