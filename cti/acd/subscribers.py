"""The routing decision goes on the call's timeline, next to what Asterisk did with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cti.acd.decision import RouteDecided
from cti.bus import EventBus
from cti.tracking.events import DomainEventType

Annotate = Callable[[str, DomainEventType, dict[str, Any]], None]


def decision_data(event: RouteDecided) -> dict[str, Any]:
    decision = event.decision
    return {
        "action": decision.action.value,
        "queue": decision.queue,
        "priority": decision.priority,
        "preferred_agent": decision.preferred_agent,
        "reason": decision.reason,
        **{f"note_{k}": v for k, v in decision.notes.items()},
    }


def register(bus: EventBus, annotate: Annotate) -> None:
    def note_routing(event: RouteDecided) -> None:
        annotate(event.uniqueid, DomainEventType.ROUTED, decision_data(event))

    bus.subscribe(RouteDecided, note_routing, name="acd.routing_note")
