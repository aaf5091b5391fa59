"""The hotline entry FastAGI app: ask the routing policy, hand the answer to the dialplan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cti.acd.decision import RouteDecided, RoutingDecision
from ivr.fastagi import AgiSession

log = logging.getLogger(__name__)

Decide = Callable[[dict[str, str]], Awaitable[RoutingDecision]]
OnDecided = Callable[[RouteDecided], None]


async def default_decide(env: dict[str, str]) -> RoutingDecision:
    return RoutingDecision()


def _ignore(_: RouteDecided) -> None:
    return None


def hotline_app(
    decide: Decide = default_decide, deadline_s: float = 1.0, on_decided: OnDecided = _ignore
) -> Callable[[AgiSession], Awaitable[None]]:
    """``deadline_s`` bounds the routing decision: a caller never waits on a slow lookup.

    Past it the app returns without setting anything, and the dialplan queues
    the call unchanged (its defaults), exactly as when the CTI is down.
    ``on_decided`` hears every decision (it goes on the call's timeline).
    """

    async def hotline(session: AgiSession) -> None:
        try:
            async with asyncio.timeout(deadline_s):
                decision = await decide(dict(session.env))
        except TimeoutError:
            log.warning(
                "hotline call %s: no routing decision within %.1fs, dialplan defaults apply",
                session.uniqueid,
                deadline_s,
            )
            return
        on_decided(RouteDecided(session.uniqueid, decision))
        for name, value in decision.channel_variables().items():
            await session.set_variable(name, value)
        log.info(
            "hotline call %s from %s routed: %s",
            session.uniqueid,
            session.env.get("agi_callerid", ""),
            decision.reason,
        )

    return hotline
