"""Issue 14 row 11: the declared metrics move with what they measure.

``cti_calls_active`` was set only when someone listed the calls over HTTP, and
``cti_call_records_pending`` only on the next domain event (so it showed the
last finished call as unwritten until another call came).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from cti.ami.codec import AmiDecoder, AmiMessage
from cti.container import Container

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
WAIT = 10.0


def recorded(name: str) -> list[AmiMessage]:
    return list(AmiDecoder().feed((TRACES / name).read_bytes()))


async def eventually(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_call_gauges_follow_the_calls_without_anyone_asking(container: Container) -> None:
    def value(name: str, **labels: str) -> float:
        return container.metrics.registry.get_sample_value(name, labels) or 0.0

    messages = recorded("answered.ami")
    fed = 0
    while not container.tracker.active_calls():
        container.pipeline.on_ami_event(messages[fed])
        fed += 1
    assert value("cti_calls_active") == 1  # nobody listed the calls
    for msg in messages[fed:]:
        container.pipeline.on_ami_event(msg)
    finished = {"outcome": "answered", "queue": "hotline", "direction": "inbound"}
    await eventually(lambda: value("cti_calls_finished_total", **finished) == 1)
    assert value("cti_calls_active") == 0
    # The writer drains its queue on its own; the gauge shows it without another event.
    await eventually(lambda: container.writer.pending == 0)
    assert value("cti_call_records_pending") == 0


async def test_ami_reconnects_are_counted_from_the_second_login(container: Container) -> None:
    def reconnects() -> float:
        return container.metrics.registry.get_sample_value("cti_ami_reconnects_total") or 0.0

    metrics = container.metrics
    for state in ("connecting", "logged_in", "disconnected", "connecting"):
        metrics.ami_state(state)
    assert reconnects() == 0  # the first login is no reconnect
    metrics.ami_state("logged_in")
    assert reconnects() == 1
    assert metrics.registry.get_sample_value("cti_ami_connected") == 1
