"""The queue board hears every call event and agent state change (and only marks a change)."""

from __future__ import annotations

from cti.agents.state import AgentStateChanged
from cti.bus import EventBus
from cti.queues.board import QueueBoard
from cti.tracking.events import DomainEvent


def register(bus: EventBus, board: QueueBoard) -> None:
    bus.subscribe(DomainEvent, board.changed, name="queues.calls")
    bus.subscribe(AgentStateChanged, board.changed, name="queues.agents")
