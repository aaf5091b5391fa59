"""AMI events in, domain events out: the adapter around the two sans-I/O trackers.

The trackers raise on a bug instead of hiding it; this adapter decides what
an exception costs: the event is skipped, the failure is logged once and
counted in ``cti_tracker_errors_total``, and the AMI reader carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from cti.agents.state import AgentStateTracker
from cti.bus import EventBus
from cti.metrics import Metrics
from cti.tracking.events import DomainEvent, DomainEventType
from cti.tracking.tracker import CallTracker

log = logging.getLogger(__name__)

T = TypeVar("T")


class Snapshot(Protocol):
    @property
    def channels(self) -> Iterable[Mapping[str, str]]: ...

    @property
    def queue_entries(self) -> Iterable[Mapping[str, str]]: ...

    @property
    def queue_members(self) -> Iterable[Mapping[str, str]]: ...

    @property
    def recordings(self) -> Mapping[str, str]: ...


def _event_name(msg: Mapping[str, str]) -> str:
    # Only the event name is logged: the message holds callers' numbers and names.
    return (msg.get("Event") or "?")[:40].encode("ascii", "backslashreplace").decode()


class EventPipeline:
    def __init__(
        self,
        tracker: CallTracker,
        agent_states: AgentStateTracker,
        bus: EventBus,
        metrics: Metrics,
    ) -> None:
        self.tracker = tracker
        self.agent_states = agent_states
        self.bus = bus
        self.metrics = metrics

    def _guard(self, which: str, what: str, step: Callable[[], Sequence[T]]) -> Sequence[T]:
        try:
            return step()
        except Exception:
            self._failed(which, what)
            return []

    def _failed(self, which: str, what: str) -> None:
        """Call inside ``except``: one log line with the traceback, one count."""
        log.exception("%s tracker failed on %s; event skipped", which, what)
        self.metrics.tracker_errors.labels(which).inc()

    def _publish(self, items: Sequence[object]) -> None:
        for item in items:
            self.bus.publish(item)

    def on_ami_event(self, msg: Mapping[str, str]) -> None:
        # The hot path (every AMI event): no closures, the event name formatted only on error.
        self.metrics.ami_events.inc()
        try:
            self._publish(self.tracker.feed(msg))
        except Exception:
            self._failed("calls", _event_name(msg))
        try:
            self._publish(self.agent_states.feed(msg))
        except Exception:
            self._failed("agents", _event_name(msg))

    def on_resync(self, snapshot: Snapshot) -> None:
        channels, entries = list(snapshot.channels), list(snapshot.queue_entries)
        members, recordings = list(snapshot.queue_members), dict(snapshot.recordings)
        # Asterisk's now, not the last event's time: right after a start there is none
        # (a call found then began in 1970), and after an outage it is the outage old.
        now = self.agent_states.asterisk_now()
        self._publish(
            self._guard(
                "calls", "resync", lambda: self.tracker.resync(channels, entries, now, recordings)
            )
        )
        self._publish(self._guard("agents", "resync", lambda: self.agent_states.resync(members)))

    def expire_wrapups(self) -> None:
        """Asterisk sends nothing when a wrap-up ends; the tracker tells us."""
        # No argument: the tracker measures wrap-up on Asterisk's clock, not the host's.
        self._publish(self._guard("agents", "wrap-up expiry", self.agent_states.expire))

    def annotate(
        self, uniqueid: str, kind: DomainEventType, data: dict[str, Any], at: float | None = None
    ) -> None:
        """Put a fact we learnt outside AMI (e.g. the routing decision) on a call's timeline."""
        event: DomainEvent | None = self.tracker.annotate(uniqueid, kind, data, at)
        if event is not None:
            self.bus.publish(event)
