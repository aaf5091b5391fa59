"""The AMI read stamps: what the screen-pop's latency and the keep-alive are measured from."""

from __future__ import annotations

from cti.ami.codec import AmiMessage
from cti.ami.protocol import AmiProtocol
from cti.ami.receipt import AmiReceipt
from tests.unit.test_ami_protocol import BANNER, FakeTransport

EVENT = b"Event: AgentCalled\r\nQueue: hotline\r\nLinkedid: 1700000000.1\r\n\r\n"


class StepClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def test_events_see_the_time_their_bytes_were_read() -> None:
    clock = StepClock()
    receipt = AmiReceipt(clock)
    seen: list[tuple[str, float | None]] = []

    def on_event(msg: AmiMessage) -> None:
        seen.append((msg["Event"], receipt.read_at))

    proto = AmiProtocol(on_event, receipt=receipt)
    proto.connection_made(FakeTransport())
    proto.data_received(BANNER)
    clock.t = 101.0
    proto.data_received(EVENT[:20])  # half a message: nothing to hand out yet
    clock.t = 102.5
    proto.data_received(EVENT[20:])
    # Stamped with the read that completed the message, and no stamp between reads.
    assert seen == [("AgentCalled", 102.5)]
    assert receipt.read_at is None
    assert receipt.last_read_at == 102.5
    clock.t = 104.0
    assert receipt.silent_for() == 1.5


async def test_events_held_for_a_resync_carry_no_stamp() -> None:
    receipt = AmiReceipt(StepClock())
    seen: list[float | None] = []
    proto = AmiProtocol(lambda msg: seen.append(receipt.read_at), hold=True, receipt=receipt)
    proto.connection_made(FakeTransport())
    proto.data_received(BANNER + EVENT)
    assert seen == []
    proto.release_events()  # after the resync, long after the read
    assert seen == [None]


def test_nothing_read_yet_is_not_silence() -> None:
    assert AmiReceipt(StepClock()).silent_for() is None
