"""The order-confirmation FastAGI app: read the order to the customer, take one key.

The dialplan (``cti-confirm``) runs it on the customer's channel once the
customer answers a call the service placed with AMI Originate, which set
``CTI_CONFIRMATION`` to the confirmation's public id. The app looks the facts
up, says them from fixed prompt files (:mod:`cti.confirmations.script`), and
waits for one key: 1 confirms, 2 cancels, 0 asks for an agent. Silence or any
other key gets the menu once more; after that it is ``not_confirmed``
(answering machines end there). Any key stops a prompt, so a customer who
knows the menu need not wait for it.

It hands the dialplan ``CTI_CONFIRM_RESULT`` (``transferred`` queues the call
with top priority) and ``CTI_ORDER_ID`` (the agent's screen-pop shows this
order), and reports the result through ``on_result``, which is bounded in time
and can never fail the call. A customer who hangs up before choosing is
reported ``not_confirmed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from cti.confirmations.script import (
    CHOICES,
    GOODBYE,
    MENU,
    PROMPT_DIR,
    PUBLIC_ID,
    CallResult,
    Facts,
    facts_prompts,
)
from cti.orders.schemas import ORDER_ID_RE
from ivr.fastagi import AgiHangup, AgiSession

__all__ = ["CallResult", "Facts", "confirm_app"]

log = logging.getLogger(__name__)

FactsLookup = Callable[[str], Awaitable[Facts | None]]
"""``public_id`` -> the facts to read, or None for no such confirmation."""
OnResult = Callable[[str, str, str | None, CallResult], Awaitable[None]]
"""``(public_id, uniqueid, digit or None, result)``: the outcome of one answered call."""

PROMPT_TIMEOUT = 60.0
"""Seconds a prompt may take to play; AGI answers STREAM FILE only when it ends."""
KEYS = "0123456789*#"
"""Any key stops a prompt; the app then decides what it meant."""


def _key(reply_result: str) -> str | None:
    """AGI answers a key as its ASCII code; 0 means none, -1 an error or hang-up."""
    try:
        code = int(reply_result)
    except ValueError:
        return None
    if code <= 0 or code > 127:
        return None
    key = chr(code)
    return key if key in KEYS else None


def confirm_app(
    facts: FactsLookup,
    on_result: OnResult,
    *,
    digit_timeout_s: float = 6.0,
    lookup_deadline_s: float = 2.0,
    report_deadline_s: float = 5.0,
) -> Callable[[AgiSession], Awaitable[None]]:
    """``digit_timeout_s``: how long the customer has for a key after the menu.

    ``lookup_deadline_s`` bounds ``facts`` (past it, or when it raises, the call
    ends ``failed`` and that is reported, so the dialler may try again);
    ``report_deadline_s`` bounds ``on_result``, which runs while the goodbye plays.
    """

    async def play(session: AgiSession, prompt: str, missing: list[str]) -> str | None:
        reply = await session.command(
            f'STREAM FILE {PROMPT_DIR}/{prompt} "{KEYS}"', timeout=PROMPT_TIMEOUT
        )
        if reply.result == "-1":
            # A missing sound file or a hang-up; the next command tells which.
            missing.append(prompt)
        return _key(reply.result)

    async def ask(session: AgiSession, prompts: Sequence[str], missing: list[str]) -> str | None:
        """Play ``prompts`` until a key stops one; else wait ``digit_timeout_s`` for a key."""
        for prompt in prompts:
            key = await play(session, prompt, missing)
            if key is not None:
                return key
        ms = round(digit_timeout_s * 1000)
        reply = await session.command(f"WAIT FOR DIGIT {ms}", timeout=digit_timeout_s + 10.0)
        return _key(reply.result)

    async def report(public_id: str, uniqueid: str, digit: str | None, result: CallResult) -> None:
        try:
            async with asyncio.timeout(report_deadline_s):
                await on_result(public_id, uniqueid, digit, result)
        except TimeoutError:
            log.error(
                "confirmation %s: result %s not recorded within %.1fs",
                public_id,
                result,
                report_deadline_s,
            )
        except Exception:
            log.exception("confirmation %s: recording result %s failed", public_id, result)

    async def lookup(public_id: str) -> tuple[Facts | None, bool]:
        """(facts, whether the lookup itself worked)."""
        try:
            async with asyncio.timeout(lookup_deadline_s):
                return await facts(public_id), True
        except TimeoutError:
            log.error("confirmation %s: no facts within %.1fs", public_id, lookup_deadline_s)
        except Exception:
            log.exception("confirmation %s: looking up the facts failed", public_id)
        return None, False

    async def confirm(session: AgiSession) -> None:
        uniqueid = session.uniqueid
        public_id = (await session.get_variable("CTI_CONFIRMATION") or "").strip()
        if not PUBLIC_ID.fullmatch(public_id):
            log.warning("confirmation call %s: no usable CTI_CONFIRMATION", uniqueid)
            await session.set_variable("CTI_CONFIRM_RESULT", CallResult.FAILED)
            return
        found, worked = await lookup(public_id)
        prompts: list[str] | None = None
        if found is not None:
            try:
                prompts = facts_prompts(found)
            except ValueError as exc:
                log.error("confirmation %s: cannot read its facts: %s", public_id, exc)
                worked = False
        elif worked:
            log.warning("confirmation call %s: unknown confirmation %s", uniqueid, public_id)
        if found is None or prompts is None:
            await session.set_variable("CTI_CONFIRM_RESULT", CallResult.FAILED)
            if not worked:
                # A known call whose facts could not be had: the dialler may try again.
                await report(public_id, uniqueid, None, CallResult.FAILED)
            return
        await converse(session, public_id, found.order_id, prompts)

    async def converse(
        session: AgiSession, public_id: str, order_id: str, prompts: list[str]
    ) -> None:
        uniqueid = session.uniqueid
        digit: str | None = None
        result = CallResult.NOT_CONFIRMED
        missing: list[str] = []
        reporting: asyncio.Task[None] | None = None
        hung_up = False
        try:
            if ORDER_ID_RE.fullmatch(order_id):
                await session.set_variable("CTI_ORDER_ID", order_id)
            digit = await ask(session, [*prompts, MENU], missing)
            if digit not in CHOICES:
                digit = await ask(session, [MENU], missing) or digit
            result = CHOICES.get(digit or "", CallResult.NOT_CONFIRMED)
            await session.set_variable("CTI_CONFIRM_RESULT", result)
            log.info("confirmation %s (call %s): key %s, %s", public_id, uniqueid, digit, result)
            # Recorded while the customer hears the goodbye.
            reporting = asyncio.create_task(report(public_id, uniqueid, digit, result))
            await session.command(
                f'STREAM FILE {PROMPT_DIR}/{GOODBYE[result]} ""', timeout=PROMPT_TIMEOUT
            )
        except AgiHangup:
            hung_up = True
            log.info("confirmation %s (call %s): hung up, %s", public_id, uniqueid, result)
        finally:
            if missing and not hung_up:
                log.warning(
                    "confirmation call %s: could not play %s (prompts not installed?)",
                    uniqueid,
                    ", ".join(sorted(set(missing))[:5]),
                )
            if reporting is None:
                await report(public_id, uniqueid, digit, result)
            else:
                await reporting

    return confirm
