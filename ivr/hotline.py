"""The hotline entry FastAGI app: ask the routing policy, hand the answer to the dialplan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cti.acd.decision import RoutingDecision
from ivr.fastagi import AgiSession

log = logging.getLogger(__name__)

Decide = Callable[[dict[str, str]], Awaitable[RoutingDecision]]


async def default_decide(env: dict[str, str]) -> RoutingDecision:
    return RoutingDecision()


def hotline_app(decide: Decide = default_decide) -> Callable[[AgiSession], Awaitable[None]]:
    async def hotline(session: AgiSession) -> None:
        decision = await decide(dict(session.env))
        for name, value in decision.channel_variables().items():
            await session.set_variable(name, value)
        log.info(
            "hotline call %s from %s routed: %s",
            session.uniqueid,
            session.env.get("agi_callerid", ""),
            decision.reason,
        )

    return hotline
