"""Whether an agent can take a call right now, as the routing policy asks it.

The agent state tracker (``cti/agents``) implements :class:`AgentAvailability`;
until it is wired, one of the two defaults here stands in.
"""

from __future__ import annotations

from typing import Protocol


class AgentAvailability(Protocol):
    def is_available(self, interface: str) -> bool:
        """True if the agent on ``interface`` (``PJSIP/1001``) is logged in and free."""
        ...


class NoAgentAvailability:
    """Knows no agent: never proposes a preferred agent."""

    def is_available(self, interface: str) -> bool:
        return False


class DialplanChecksAvailability:
    """Proposes the last agent and lets the dialplan decide.

    ``cti-sanitize`` rings ``CTI_PREFERRED`` only if ``DEVICE_STATE`` is
    ``NOT_INUSE`` and the member is not paused, so a busy agent costs no delay.
    """

    def is_available(self, interface: str) -> bool:
        return True
