"""The satisfaction survey FastAGI app: the caller rates the call 1-5 after the agent hangs up.

The dialplan (``cti-csat``) runs it on the caller's channel when the agent ended
the call and the caller is still on the line, for hotlines whose survey is on
(``CTI_CSAT=yes``). One question, one key: 5 is very satisfied, 1 very
dissatisfied. Silence, ``#`` or another key gets the question once more; after
that the caller hears goodbye and the call has no rating. A caller who hangs
up has no rating either, unless the key was already pressed.

The question is ONE ``EXEC Read`` (as in :mod:`ivr.confirm`): a key pressed
between two AGI commands would be lost, inside ``Read`` it stops the prompt.

The rating goes to ``on_rating`` (the bus, whose subscriber saves it as a
durable job) while the caller hears the thanks, and the app waits for it before
the channel goes, so it is on disk or in the database when the call ends. The
agent (``CTI_CSAT_AGENT``, the queue member's interface or the preferred agent
the dialplan rang) and the queue (``CTI_QUEUE``) are taken only if they look
like Asterisk's; anything else is stored as unknown.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from cti.events import CallRated
from ivr.fastagi import AgiError, AgiHangup, AgiSession

__all__ = ["CallRated", "csat_app"]

log = logging.getLogger(__name__)

OnRating = Callable[[CallRated], Awaitable[None]]

PROMPT_DIR = "cti"
ASK = "cti-csat-ask"
THANKS = "cti-csat-thanks"
GOODBYE = "cti-csat-goodbye"
KEY_VARIABLE = "CTI_CSAT_KEY"
RATINGS = "12345"
PROMPT_TIMEOUT = 60.0
"""Seconds a prompt may take to play; AGI answers only when it ends."""
_SAFE_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@-]{1,64}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _match(pattern: re.Pattern[str], value: str | None) -> str | None:
    value = (value or "").strip()
    return value if pattern.fullmatch(value) else None


def csat_app(
    on_rating: OnRating, *, digit_timeout_s: float = 6.0
) -> Callable[[AgiSession], Awaitable[None]]:
    """``digit_timeout_s``: how long the caller has for a key after the question."""

    async def ask(session: AgiSession) -> int | None:
        # Read(variable,files,maxdigits,options,attempts,timeout): one key, one try.
        await session.command(
            f"EXEC Read {KEY_VARIABLE},{PROMPT_DIR}/{ASK},1,,1,{digit_timeout_s:g}",
            timeout=PROMPT_TIMEOUT + digit_timeout_s,
        )
        key = await session.get_variable(KEY_VARIABLE)
        return int(key) if key is not None and len(key) == 1 and key in RATINGS else None

    async def report(rated: CallRated) -> None:
        try:
            await on_rating(rated)
        except Exception:
            log.exception("call %s: rating %d not saved", rated.linkedid, rated.rating)

    async def csat(session: AgiSession) -> None:
        uniqueid = session.uniqueid
        if not _SAFE_ID.fullmatch(uniqueid):
            raise AgiError(f"refusing odd uniqueid {uniqueid[:40]!r}")
        rating: int | None = None
        reporting: asyncio.Task[None] | None = None
        try:
            linkedid = _match(_SAFE_ID, await session.get_variable("CHANNEL(linkedid)"))
            agent = _match(_INTERFACE, await session.get_variable("CTI_CSAT_AGENT"))
            queue = _match(_QUEUE, await session.get_variable("CTI_QUEUE"))
            rating = await ask(session)
            if rating is None:
                rating = await ask(session)
            if rating is None:
                log.info("call %s: no rating", linkedid or uniqueid)
                await session.command(f'STREAM FILE {PROMPT_DIR}/{GOODBYE} ""', PROMPT_TIMEOUT)
                return
            rated = CallRated(
                uniqueid=uniqueid,
                linkedid=linkedid or uniqueid,
                rating=rating,
                agent=agent,
                queue=queue,
            )
            log.info("call %s rated %d (agent %s)", rated.linkedid, rating, agent or "unknown")
            reporting = asyncio.create_task(report(rated))
            await session.command(f'STREAM FILE {PROMPT_DIR}/{THANKS} ""', PROMPT_TIMEOUT)
        except AgiHangup:
            log.info("call %s: caller left the survey (rating %s)", uniqueid, rating)
        finally:
            if reporting is not None:
                await reporting

    return csat
