"""The screen-pop hub hears call events and agent state changes."""

from __future__ import annotations

from cti.agents.state import AgentStateChanged
from cti.bus import EventBus
from cti.screenpop.hub import ScreenPopHub
from cti.tracking.events import DomainEvent


def register(bus: EventBus, hub: ScreenPopHub) -> None:
    bus.subscribe(DomainEvent, hub.on_event, name="screenpop.calls")
    bus.subscribe(AgentStateChanged, hub.on_agent_state, name="screenpop.agents")
