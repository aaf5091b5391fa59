"""The order-confirmation FastAGI app: read the order to the customer, take one key.

The dialplan (``cti-confirm``) runs it on the customer's channel once the
customer answers a call the service placed with AMI Originate, which set
``CTI_CONFIRMATION`` to the confirmation's public id. The app looks the facts
up, says them from fixed prompt files (:mod:`cti.confirmations.script`), and
waits for one key: 1 confirms, 2 cancels, 0 asks for an agent. Silence or any
other key gets the menu once more; after that it is ``not_confirmed``
(answering machines end there). Any key stops a prompt, so a customer who
knows the menu need not wait for it.

The prompts of one question are played by ONE ``EXEC Read`` (files joined with
``&``), not one ``STREAM FILE`` each: between two AGI commands Asterisk reads
the channel and throws its frames away, so a key pressed in such a gap (RFC
4733 events included) would be lost; inside ``Read`` every key counts.

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
"""Seconds the prompts of one question may take; AGI answers only when they end."""
KEYS = "0123456789*"
"""Keys ``Read`` hands back (``#`` ends its input empty); any key stops a prompt."""
KEY_VARIABLE = "CTI_CONFIRM_KEY"


def _key(value: str | None) -> str | None:
    """What ``Read`` stored: one key, or nothing (silence, ``#``, a hang-up)."""
    return value if value is not None and len(value) == 1 and value in KEYS else None


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

    async def ask(session: AgiSession, prompts: Sequence[str]) -> str | None:
        """Play ``prompts`` until a key stops them, then wait ``digit_timeout_s`` for one."""
        files = "&".join(f"{PROMPT_DIR}/{prompt}" for prompt in prompts)
        # Read(variable,files,maxdigits,options,attempts,timeout): one key, one try.
        await session.command(
            f"EXEC Read {KEY_VARIABLE},{files},1,,1,{digit_timeout_s:g}",
            timeout=PROMPT_TIMEOUT + digit_timeout_s,
        )
        return _key(await session.get_variable(KEY_VARIABLE))

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
        reporting: asyncio.Task[None] | None = None
        try:
            if ORDER_ID_RE.fullmatch(order_id):
                await session.set_variable("CTI_ORDER_ID", order_id)
            digit = await ask(session, [*prompts, MENU])
            if digit not in CHOICES:
                digit = await ask(session, [MENU]) or digit
            result = CHOICES.get(digit or "", CallResult.NOT_CONFIRMED)
            await session.set_variable("CTI_CONFIRM_RESULT", result)
            log.info("confirmation %s (call %s): key %s, %s", public_id, uniqueid, digit, result)
            # Recorded while the customer hears the goodbye.
            reporting = asyncio.create_task(report(public_id, uniqueid, digit, result))
            await session.command(
                f'STREAM FILE {PROMPT_DIR}/{GOODBYE[result]} ""', timeout=PROMPT_TIMEOUT
            )
        except AgiHangup:
            log.info("confirmation %s (call %s): hung up, %s", public_id, uniqueid, result)
        finally:
            if reporting is None:
                await report(public_id, uniqueid, digit, result)
            else:
                await reporting

    return confirm
