"""Agent state changes on the bus go to the durable history (:mod:`cti.stats.writer`)."""

from __future__ import annotations

from collections.abc import Callable

from cti.agents.state import AgentStateChanged
from cti.bus import EventBus
from cti.stats.writer import AgentStateWriter


def register(bus: EventBus, writer: AgentStateWriter, asterisk_time: Callable[[], float]) -> None:
    """``asterisk_time``: the newest AMI Timestamp (when a pause changed its reason)."""

    def keep(event: AgentStateChanged) -> None:
        writer.submit(event, asterisk_time())

    bus.subscribe(AgentStateChanged, keep, name="stats.agent_states")
