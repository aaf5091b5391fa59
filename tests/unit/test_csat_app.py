"""The satisfaction survey app over real FastAGI: a scripted caller channel after the talk."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cti.events import CallRated
from ivr.csat import ASK, GOODBYE, THANKS, csat_app
from ivr.fastagi import FastAgiServer
from tests.agi import ScriptedChannel, agi_request, call

UNIQUEID = "1795432195.64"
LINKEDID = "1795432195.64"
REQUEST = agi_request(
    "csat",
    channel="PJSIP/trunk-00000040",
    uniqueid=UNIQUEID,
    callerid="13800138000",
    context="cti-csat",
)


@dataclass
class Caller(ScriptedChannel):
    """Asterisk's side: a caller still on the line after the agent hung up."""

    variables: dict[str, str] = field(
        default_factory=lambda: {
            "CHANNEL(linkedid)": LINKEDID,
            "CTI_CSAT_AGENT": "PJSIP/1001",
            "CTI_QUEUE": "hotline",
        }
    )


@dataclass
class Service:
    ratings: list[CallRated] = field(default_factory=list)
    fail: bool = False

    async def on_rating(self, rated: CallRated) -> None:
        if self.fail:
            raise RuntimeError("bus gone")
        self.ratings.append(rated)


async def run(caller: Caller, service: Service | None = None) -> Service:
    service = service or Service()
    server = FastAgiServer("127.0.0.1", 0, {"csat": csat_app(service.on_rating)})
    await server.start()
    try:
        await call(server, REQUEST, caller.answer)
        assert server.failed == 0
    finally:
        await server.stop()
    return service


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
async def test_the_caller_rates_the_call_and_hears_thanks(key: str) -> None:
    caller = Caller(keys=[key])
    service = await run(caller)
    assert caller.played == [ASK, THANKS]
    assert service.ratings == [CallRated(UNIQUEID, LINKEDID, int(key), "PJSIP/1001", "hotline")]


async def test_silence_hears_the_question_once_more() -> None:
    caller = Caller(keys=[None, "4"])
    service = await run(caller)
    assert caller.played == [ASK, ASK, THANKS]
    assert [r.rating for r in service.ratings] == [4]


@pytest.mark.parametrize("keys", [[None, None], ["0", "9"], ["#", "*"], ["6", None]])
async def test_no_key_or_a_wrong_one_twice_is_no_rating(keys: list[str | None]) -> None:
    caller = Caller(keys=keys)
    service = await run(caller)
    assert caller.played == [ASK, ASK, GOODBYE]
    assert service.ratings == []


async def test_the_question_is_one_read_with_a_timeout() -> None:
    """Between AGI commands Asterisk drops the channel's frames: a key there would be lost."""
    caller = Caller(keys=[None, "5"])
    await run(caller)
    reads = [c for c in caller.commands if c.startswith("EXEC Read")]
    assert reads == ["EXEC Read CTI_CSAT_KEY,cti/cti-csat-ask,1,,1,6"] * 2


async def test_a_caller_hanging_up_at_the_question_gives_no_rating() -> None:
    caller = Caller(keys=["5"], hang_up_during=ASK)
    service = await run(caller)
    assert service.ratings == []


async def test_a_key_pressed_counts_even_if_the_caller_leaves_during_the_thanks() -> None:
    caller = Caller(keys=["2"], hang_up_during=THANKS)
    service = await run(caller)
    assert [r.rating for r in service.ratings] == [2]


@pytest.mark.parametrize(
    ("agent", "queue"),
    [("1001;x", "hotline)"), ("", ""), ("PJSIP/10 01", "a b"), ("PJSIP/", "q" * 65)],
)
async def test_odd_agent_or_queue_values_are_stored_as_unknown(agent: str, queue: str) -> None:
    caller = Caller(keys=["3"])
    caller.variables.update(CTI_CSAT_AGENT=agent, CTI_QUEUE=queue)
    service = await run(caller)
    assert [(r.rating, r.agent, r.queue) for r in service.ratings] == [(3, None, None)]


async def test_without_a_linkedid_the_callers_channel_names_the_call() -> None:
    caller = Caller(keys=["3"])
    del caller.variables["CHANNEL(linkedid)"]
    service = await run(caller)
    assert [r.linkedid for r in service.ratings] == [UNIQUEID]


async def test_a_failing_save_does_not_fail_the_call() -> None:
    caller = Caller(keys=["5"])
    service = await run(caller, Service(fail=True))
    assert caller.played == [ASK, THANKS]
    assert service.ratings == []
