"""Domain events that cross domains, published once on the :mod:`cti.bus`.

Call events from the tracker are :class:`cti.tracking.events.DomainEvent`;
agent state changes are :class:`cti.agents.state.AgentStateChanged`; routing
decisions are :class:`cti.acd.decision.RouteDecided`. The ones here are raised
by the FastAGI apps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Voicemail:
    """A caller the hotline could not serve left a message (or hung up at the prompt)."""

    uniqueid: str
    linkedid: str | None
    caller_number: str | None
    caller_name: str | None
    dnis: str | None
    reason: str
    recording_path: str | None
    """Where Asterisk wrote the message (its own file system), with extension."""
    left_message: bool


@dataclass(frozen=True, slots=True)
class CallRated:
    """A caller rated the call (1-5) after the agent hung up (the satisfaction survey)."""

    uniqueid: str
    """The caller's channel."""
    linkedid: str
    """The call."""
    rating: int
    agent: str | None
    """The interface of the agent who took the call (``PJSIP/1001``), as the dialplan said."""
    queue: str | None
