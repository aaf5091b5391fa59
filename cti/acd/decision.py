"""What the routing policy tells the dialplan to do with one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    QUEUE = "queue"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    queue: str = "hotline"
    priority: int = 0
    action: Action = Action.QUEUE
    preferred_agent: str | None = None
    """A dial string such as ``PJSIP/1001``, rung first before the queue."""
    preferred_timeout: int = 8
    queue_timeout: int | None = None
    """Seconds in the queue before the caller is offered voicemail; None: dialplan default."""
    csat: bool = False
    """Ask the caller to rate the call after the agent hangs up (the hotline's switch);
    a fallback decision asks nothing, as when the CTI does not answer at all."""
    reason: str = "default"
    notes: dict[str, str] = field(default_factory=dict)

    def channel_variables(self) -> dict[str, str]:
        """Variables the ``cti-hotline`` dialplan reads after the AGI returns."""
        out = {
            "CTI_ACTION": self.action.value,
            "CTI_QUEUE": self.queue,
            "CTI_PRIORITY": str(self.priority),
            "CTI_REASON": self.reason,
            "CTI_CSAT": "yes" if self.csat else "no",
        }
        if self.preferred_agent:
            out["CTI_PREFERRED"] = self.preferred_agent
            out["CTI_PREFERRED_TIMEOUT"] = str(self.preferred_timeout)
        if self.queue_timeout is not None:
            out["CTI_QUEUE_TIMEOUT"] = str(self.queue_timeout)
        return out


@dataclass(frozen=True, slots=True)
class RouteDecided:
    """Published when the hotline AGI has decided where the channel ``uniqueid`` goes."""

    uniqueid: str
    decision: RoutingDecision
