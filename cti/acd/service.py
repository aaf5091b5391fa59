"""The hotline's ``decide(env)``: AGI variables in, a routing decision out, fast.

One indexed query (:mod:`cti.customers.profile`) finds the caller and as much
of their order figures as tells the tier; the holiday calendar is cached for a
few seconds. The whole lookup is bounded by ``CTI_ACD_LOOKUP_TIMEOUT``: past
it, or on any database error, the call is routed as an unknown caller
("fallback: ..."), so the AGI always answers and never raises into the dialplan.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from cti.acd.availability import AgentAvailability, NoAgentAvailability
from cti.acd.decision import Action, RoutingDecision
from cti.acd.holidays import load_calendar
from cti.acd.policy import CalendarDay, Policy, decide, safe_reason
from cti.acd.settings import AcdSettings
from cti.clock import SYSTEM_CLOCK, Clock
from cti.customers.phones import PhoneNormalizer
from cti.customers.profile import caller_profile, caller_statement
from cti.customers.tiers import CustomerProfile
from cti.db.engine import retry_if_disconnected

log = logging.getLogger(__name__)

Calendar = dict[str, dict[date, CalendarDay]]
Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


class HotlineRouter:
    """Owns the policy, the calendar cache and the lookup; ``decide`` is the AGI hook.

    ``sessions`` are only read from; the service gives it a pool of its own in
    autocommit without pings (:func:`cti.db.engine.create_lookup_engine`): one round
    trip per lookup, and one more after a connection died with the server.
    ``connect`` (that pool's ``engine.connect``): the caller lookup runs on a plain
    connection instead of a session, without the ORM's per-statement work; without it
    the lookup uses a session too.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: AcdSettings | None = None,
        *,
        phones: PhoneNormalizer,
        availability: AgentAvailability | None = None,
        clock: Clock = SYSTEM_CLOCK,
        connect: Connect | None = None,
    ) -> None:
        self.settings = settings if settings is not None else AcdSettings()
        self.policy = Policy.from_settings(self.settings)
        self.phones = phones
        self.availability: AgentAvailability = availability or NoAgentAvailability()
        self._sessions = sessions
        self._connect: Callable[[], AbstractAsyncContextManager[AsyncSession | AsyncConnection]] = (
            connect or sessions
        )
        self._clock = clock
        rules = self.policy.rules
        # Only as much of the order history as tells the tier: the same tier the
        # screen-pop derives from the exact figures, whatever the customer's history.
        self._stmt = caller_statement(
            paid_statuses=rules.paid_statuses, currency=rules.currency, enough=rules.vip_order_count
        )
        self._calendar: Calendar = {}
        self._calendar_loaded_at: float | None = None
        self._calendar_loading = False
        self.decisions = 0
        self.fallbacks = 0

    @property
    def hotline_names(self) -> frozenset[str]:
        return frozenset(self.policy.hotlines)

    def invalidate_calendar(self) -> None:
        """Read the calendar again on the next call (after an API change)."""
        self._calendar_loaded_at = None

    async def decide(self, env: Mapping[str, str]) -> RoutingDecision:
        """Never raises: a failure inside gives the default decision with the reason."""
        try:
            decision = await self._decide(env)
        except Exception as exc:
            log.exception("hotline routing failed; sending the call to the queue unchanged")
            self.fallbacks += 1
            return RoutingDecision(reason=safe_reason(f"fallback: {type(exc).__name__}"))
        self.decisions += 1
        return decision

    async def _decide(self, env: Mapping[str, str]) -> RoutingDecision:
        now = self._clock.now()
        dnis = env.get("agi_extension") or env.get("agi_dnid") or ""
        hotline = self.policy.hotline_for(dnis)
        number = self.phones(env.get("agi_callerid"))
        notes: dict[str, str] = {"caller_kind": number.kind.value}
        if number.e164 is not None:
            notes["caller_e164"] = number.e164
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.lookup_timeout

        calendar: Mapping[date, CalendarDay] = self._calendar.get(hotline.name, {})
        try:
            async with asyncio.timeout_at(deadline):
                calendar = (await self._fresh_calendar(now)).get(hotline.name, {})
        except Exception as exc:
            # Stale holidays beat no answer; the next call tries again.
            notes["calendar"] = f"stale: {_why(exc)}"

        profile: CustomerProfile | None = None
        failure: str | None = None
        if number.e164 is not None:
            e164, since = number.e164, self.policy.rules.window_start(now)

            async def lookup() -> CustomerProfile | None:
                async with self._connect() as db:
                    return await caller_profile(db, stmt=self._stmt, e164=e164, since=since)

            try:
                async with asyncio.timeout_at(deadline):
                    profile = await retry_if_disconnected(lookup)
            except Exception as exc:
                failure = _why(exc)
                log.warning("caller lookup failed (%s); routing as unknown caller", failure)
            notes["lookup"] = failure or ("found" if profile is not None else "unknown")

        decision = decide(self.policy, hotline, profile, now, calendar, self.availability, notes)
        if failure is not None:
            self.fallbacks += 1
            if decision.action is Action.QUEUE:
                return replace(decision, reason=safe_reason(f"fallback: {failure}"))
        return replace(decision, reason=safe_reason(decision.reason))

    async def _fresh_calendar(self, now: datetime) -> Calendar:
        ttl = self.settings.calendar_ttl
        loaded = self._calendar_loaded_at
        monotonic = self._clock.monotonic()
        if loaded is not None and (monotonic - loaded < ttl or self._calendar_loading):
            # Fresh, or another call is already reading it: use what we have.
            return self._calendar
        self._calendar_loading = True
        try:
            # Two days each side cover every hotline's local date, whatever its zone.
            today = now.date()
            async with self._sessions() as session:
                self._calendar = await load_calendar(
                    session, today - timedelta(days=2), today + timedelta(days=2)
                )
            self._calendar_loaded_at = self._clock.monotonic()
        finally:
            self._calendar_loading = False
        return self._calendar


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"database error {type(exc).__name__}"
