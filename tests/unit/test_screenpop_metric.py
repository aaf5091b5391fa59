"""``cti_screenpop_seconds``: the composition root wires the AMI read stamps to the metric."""

from __future__ import annotations

import json
from pathlib import Path

from cti.container import Container
from cti.settings import Settings
from tests.unit.test_screenpop import messages


async def test_a_pop_sent_is_observed_from_its_agentcalled_read(tmp_path: Path) -> None:
    container = Container(
        Settings(data_dir=tmp_path, ami_enabled=False, agi_enabled=False, http_enabled=False)
    )
    receipt, hub, registry = container.ami_receipt, container.screenpop, container.metrics.registry
    sub, _, _ = hub.subscribe("1001")
    try:
        for msg in messages("answered.ami"):
            receipt.reading()  # as AmiProtocol.data_received does for each read
            container.pipeline.on_ami_event(msg)
            receipt.done()
        await hub.drain()
        sent = []
        while not sub.queue.empty():
            text = sub.queue.get_nowait()
            assert text is not None
            sub.sent(text)
            sent.append(json.loads(text)["type"])
        # Agent states, ringing, answered, ended: one of them a pop (the database has no
        # tables here: the pop says its lookup failed, and is still timed).
        assert sent.count("ringing") == 1 and "ended" in sent
        assert registry.get_sample_value("cti_screenpop_seconds_count") == 1
        assert (registry.get_sample_value("cti_screenpop_seconds_sum") or 0) > 0
    finally:
        await hub.stop()
        await container.engine.dispose()
        await container.lookup_engine.dispose()
