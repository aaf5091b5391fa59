"""The confirmation app over real FastAGI: a scripted Asterisk channel with a customer on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from cti.confirmations.script import (
    GOODBYE,
    INTRO,
    MENU,
    PIECES,
    REASON_PROMPTS,
    TOTAL,
    CallResult,
    Facts,
    Reason,
    spoken,
)
from ivr.confirm import confirm_app
from ivr.fastagi import FastAgiServer
from tests.agi import WAIT, ScriptedChannel, agi_request
from tests.agi import call as agi_call

PUBLIC_ID = "cf_8dK2m"
UNIQUEID = "1732350000.7"
FACTS = Facts(Decimal("2300.50"), 3, "high_amount", "SO-2024-0001")
SAID = [
    INTRO,
    *spoken("两千三百元五角"),
    TOTAL,
    *spoken("三"),
    PIECES,
    REASON_PROMPTS[Reason.LARGE_AMOUNT],
]


REQUEST = agi_request(
    "confirm",
    channel="PJSIP/trunk-00000009",
    uniqueid=UNIQUEID,
    callerid="4008001234",
    context="cti-confirm",
)


@dataclass
class Customer(ScriptedChannel):
    """Asterisk's side of one answered confirmation call."""

    variables: dict[str, str] = field(default_factory=lambda: {"CTI_CONFIRMATION": PUBLIC_ID})


@dataclass
class Shop:
    """The service behind the app: the facts it knows and the results it heard."""

    facts: dict[str, Facts] = field(default_factory=lambda: {PUBLIC_ID: FACTS})
    results: list[tuple[str, str, str | None, CallResult]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    async def lookup(self, public_id: str) -> Facts | None:
        self.asked.append(public_id)
        return self.facts.get(public_id)

    async def on_result(
        self, public_id: str, uniqueid: str, digit: str | None, result: CallResult
    ) -> None:
        self.results.append((public_id, uniqueid, digit, result))


Lookup = Callable[[str], Awaitable[Facts | None]]
OnResult = Callable[[str, str, str | None, CallResult], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(
    lookup: Lookup, on_result: OnResult, **options: float
) -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer("127.0.0.1", 0, {"confirm": confirm_app(lookup, on_result, **options)})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def call(server: FastAgiServer, customer: Customer) -> Customer:
    """One call: the request, then answer every command until the app hangs up."""
    await agi_call(server, REQUEST, customer.answer)
    return customer


async def run(customer: Customer, shop: Shop | None = None, **options: float) -> Shop:
    shop = shop or Shop()
    async with serving(shop.lookup, shop.on_result, **options) as server:
        await call(server, customer)
        assert server.failed == 0
    return shop


@pytest.mark.parametrize(
    ("key", "result"),
    [("1", CallResult.CONFIRMED), ("2", CallResult.CANCELLED), ("0", CallResult.TRANSFERRED)],
)
async def test_the_customer_hears_the_order_and_chooses(key: str, result: CallResult) -> None:
    customer = Customer(keys=[key])
    shop = await run(customer)
    assert customer.played == [*SAID, MENU, GOODBYE[result]]
    assert customer.waits == ["6"]
    assert customer.variables["CTI_CONFIRM_RESULT"] == result.value
    assert customer.variables["CTI_ORDER_ID"] == "SO-2024-0001"
    assert shop.results == [(PUBLIC_ID, UNIQUEID, key, result)]


async def test_silence_hears_the_menu_once_more_then_is_not_confirmed() -> None:
    customer = Customer(keys=[None, None])
    shop = await run(customer, digit_timeout_s=4.5)
    assert customer.played == [*SAID, MENU, MENU, GOODBYE[CallResult.NOT_CONFIRMED]]
    assert customer.waits == ["4.5"] * 2
    assert customer.variables["CTI_CONFIRM_RESULT"] == "not_confirmed"
    assert shop.results == [(PUBLIC_ID, UNIQUEID, None, CallResult.NOT_CONFIRMED)]


async def test_a_key_after_the_repeat_counts() -> None:
    customer = Customer(keys=[None, "1"])
    shop = await run(customer)
    assert customer.played == [*SAID, MENU, MENU, GOODBYE[CallResult.CONFIRMED]]
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "1", CallResult.CONFIRMED)]


async def test_a_wrong_key_hears_the_menu_again() -> None:
    customer = Customer(keys=["5", "2"])
    shop = await run(customer)
    assert customer.played == [*SAID, MENU, MENU, GOODBYE[CallResult.CANCELLED]]
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "2", CallResult.CANCELLED)]


async def test_two_wrong_keys_are_not_a_confirmation() -> None:
    customer = Customer(keys=["9", "*"])
    shop = await run(customer)
    assert customer.variables["CTI_CONFIRM_RESULT"] == "not_confirmed"
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "*", CallResult.NOT_CONFIRMED)]


async def test_a_wrong_key_then_silence_keeps_the_key_pressed() -> None:
    customer = Customer(keys=["7", None])
    shop = await run(customer)
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "7", CallResult.NOT_CONFIRMED)]


async def test_a_key_stops_the_prompts_at_once() -> None:
    """A customer who knows the menu presses 1 while the amount is still being read."""
    customer = Customer(barge_in={"cti-num-qian": "1"})
    shop = await run(customer)
    stopped_at = SAID.index("cti-num-qian")
    assert customer.played == [*SAID[: stopped_at + 1], GOODBYE[CallResult.CONFIRMED]]
    assert customer.waits == []
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "1", CallResult.CONFIRMED)]


async def test_one_question_is_one_command() -> None:
    """Between AGI commands Asterisk drops the channel's frames: a key there would be lost."""
    customer = Customer(keys=[None, "1"])
    await run(customer)
    reads = [c for c in customer.commands if c.startswith("EXEC Read")]
    assert len(reads) == 2
    assert reads[0].startswith("EXEC Read CTI_CONFIRM_KEY,cti/cti-confirm-intro&cti/cti-num-liang&")
    assert reads[1] == "EXEC Read CTI_CONFIRM_KEY,cti/cti-confirm-menu,1,,1,6"
    # The goodbye takes no key.
    assert [c for c in customer.commands if c.startswith("STREAM")] == [
        'STREAM FILE cti/cti-confirm-done-confirmed ""'
    ]


async def test_hash_is_no_answer() -> None:
    customer = Customer(keys=["#", "#"])
    shop = await run(customer)
    assert shop.results == [(PUBLIC_ID, UNIQUEID, None, CallResult.NOT_CONFIRMED)]


async def test_an_unknown_confirmation_fails_without_a_word() -> None:
    customer = Customer(variables={"CTI_CONFIRMATION": "nosuchid"})
    shop = await run(customer)
    assert customer.variables["CTI_CONFIRM_RESULT"] == "failed"
    assert customer.played == [] and customer.waits == []
    assert shop.asked == ["nosuchid"]
    assert shop.results == []  # nothing to report to


@pytest.mark.parametrize("value", [None, "", "../../etc/passwd", "x" * 41, "a b", "id)}"])
async def test_a_missing_or_odd_confirmation_id_is_never_looked_up(value: str | None) -> None:
    customer = Customer(variables={} if value is None else {"CTI_CONFIRMATION": value})
    shop = await run(customer)
    assert customer.variables["CTI_CONFIRM_RESULT"] == "failed"
    assert shop.asked == [] and shop.results == [] and customer.played == []


async def test_a_failing_lookup_fails_the_call_and_says_so() -> None:
    async def broken(public_id: str) -> Facts | None:
        raise RuntimeError("database is down")

    shop = Shop()
    customer = Customer()
    async with serving(broken, shop.on_result) as server:
        await call(server, customer)
    assert customer.variables["CTI_CONFIRM_RESULT"] == "failed"
    assert customer.played == []
    assert shop.results == [(PUBLIC_ID, UNIQUEID, None, CallResult.FAILED)]


async def test_a_slow_lookup_is_cut_off() -> None:
    async def slow(public_id: str) -> Facts | None:
        await asyncio.sleep(WAIT)
        return FACTS

    shop = Shop()
    customer = Customer()
    async with serving(slow, shop.on_result, lookup_deadline_s=0.1) as server:
        await call(server, customer)
    assert customer.variables["CTI_CONFIRM_RESULT"] == "failed"
    assert shop.results == [(PUBLIC_ID, UNIQUEID, None, CallResult.FAILED)]


async def test_facts_that_cannot_be_read_fail_the_call() -> None:
    shop = Shop(facts={PUBLIC_ID: Facts(Decimal("0.001"), 1, "other", "SO-1")})
    customer = Customer()
    await run(customer, shop)
    assert customer.variables["CTI_CONFIRM_RESULT"] == "failed"
    assert customer.played == []
    assert shop.results == [(PUBLIC_ID, UNIQUEID, None, CallResult.FAILED)]


async def test_a_failing_on_result_does_not_touch_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(public_id: str, uniqueid: str, digit: str | None, result: CallResult) -> None:
        raise RuntimeError("webhook store is down")

    shop = Shop()
    customer = Customer(keys=["0"])
    async with serving(shop.lookup, broken) as server:
        await call(server, customer)
        assert server.failed == 0 and server.handled == 1
    assert customer.variables["CTI_CONFIRM_RESULT"] == "transferred"
    assert customer.played[-1] == GOODBYE[CallResult.TRANSFERRED]
    assert any("recording result transferred failed" in r.message for r in caplog.records)


async def test_a_slow_on_result_is_bounded() -> None:
    async def slow(public_id: str, uniqueid: str, digit: str | None, result: CallResult) -> None:
        await asyncio.sleep(WAIT)

    shop = Shop()
    customer = Customer(keys=["1"])
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with serving(shop.lookup, slow, report_deadline_s=0.2) as server:
        await call(server, customer)
        assert server.failed == 0
    assert loop.time() - began < WAIT / 2
    assert customer.variables["CTI_CONFIRM_RESULT"] == "confirmed"


async def test_hanging_up_during_the_facts_is_not_confirmed() -> None:
    customer = Customer(hang_up_during="cti-money-yuan")
    shop = await run(customer)
    assert "CTI_CONFIRM_RESULT" not in customer.variables
    assert shop.results == [(PUBLIC_ID, UNIQUEID, None, CallResult.NOT_CONFIRMED)]


async def test_hanging_up_right_after_the_key_keeps_the_choice() -> None:
    customer = Customer(keys=["2"], hang_up_after="GET VARIABLE CTI_CONFIRM_KEY")
    shop = await run(customer)
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "2", CallResult.CANCELLED)]


async def test_hanging_up_during_the_goodbye_reports_once() -> None:
    customer = Customer(keys=["1"], hang_up_after="SET VARIABLE CTI_CONFIRM_RESULT")
    shop = await run(customer)
    assert shop.results == [(PUBLIC_ID, UNIQUEID, "1", CallResult.CONFIRMED)]


async def test_an_odd_order_id_is_not_handed_to_the_dialplan() -> None:
    shop = Shop(facts={PUBLIC_ID: Facts(Decimal("5"), 1, "other", 'x" ; Hangup')})
    customer = Customer(keys=["1"])
    await run(customer, shop)
    assert "CTI_ORDER_ID" not in customer.variables
    assert customer.variables["CTI_CONFIRM_RESULT"] == "confirmed"
