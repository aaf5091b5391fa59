"""The routing policy: who is calling, is the hotline open, where does the call go.

Pure: values in, a :class:`RoutingDecision` out. No database, no clock (``now``
is an argument), no sockets; :mod:`cti.acd.service` does the I/O around it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from cti.acd.availability import AgentAvailability
from cti.acd.decision import Action, RoutingDecision
from cti.acd.hours import Ranges, WeeklySchedule, is_open, parse_ranges, parse_schedule
from cti.acd.settings import AcdSettings, HotlineSettings
from cti.customers.tiers import CustomerProfile, Tier

# What the dialplan's cti-sanitize accepts for CTI_PREFERRED; anything else it drops.
_DIALABLE_AGENT = re.compile(r"^PJSIP/[A-Za-z0-9_.-]{1,64}$")
_UNSAFE_REASON = re.compile(r"[^\w .:=/,;+()-]")


class DayKind(StrEnum):
    HOLIDAY = "holiday"
    """Closed, or open only during the day's own hours."""
    WORKDAY = "workday"
    """A make-up working day (调休) on a weekend: open as on a working day."""


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    kind: DayKind
    name: str = ""
    hours: Ranges | None = None
    """Hours that replace the usual ones that day; None: closed (holiday) or workday hours."""


@dataclass(frozen=True, slots=True)
class TierRules:
    vip_paid_total: Decimal = Decimal(5000)
    vip_order_count: int = 10
    window: timedelta = timedelta(days=365)
    currency: str = "CNY"
    paid_statuses: frozenset[str] = frozenset({"paid", "shipped", "delivered", "completed"})

    def window_start(self, now: datetime) -> datetime:
        return now - self.window


@dataclass(frozen=True, slots=True)
class Hotline:
    name: str
    queue: str = "hotline"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    week: WeeklySchedule = field(default_factory=lambda: parse_schedule(["mon-sun 00:00-24:00"]))
    workday_hours: Ranges | None = None
    """Hours of a make-up working day; None: Monday's."""
    numbers: frozenset[str] = frozenset()
    queue_timeout: int | None = None
    csat: bool = True
    """Callers rate the call after the agent hangs up."""

    @classmethod
    def from_settings(cls, name: str, s: HotlineSettings) -> Hotline:
        return cls(
            name=name,
            queue=s.queue,
            tz=ZoneInfo(s.timezone),
            week=parse_schedule(s.hours),
            workday_hours=parse_ranges(s.workday_hours) if s.workday_hours is not None else None,
            numbers=frozenset(s.numbers),
            queue_timeout=s.queue_timeout,
            csat=s.csat,
        )


@dataclass(frozen=True, slots=True)
class Opening:
    open: bool
    reason: str
    """``open``, ``closed``, ``holiday`` or ``workday`` (open on a make-up day)."""
    local: datetime
    day: CalendarDay | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    rules: TierRules = field(default_factory=TierRules)
    priorities: Mapping[Tier, int] = field(
        default_factory=lambda: {Tier.VIP: 10, Tier.RETURNING: 5, Tier.NEW: 0}
    )
    preferred_timeout: int = 8
    preferred_max_age: timedelta | None = timedelta(days=90)
    hotlines: Mapping[str, Hotline] = field(default_factory=lambda: {"hotline": Hotline("hotline")})
    default_hotline: str = "hotline"

    @classmethod
    def from_settings(cls, s: AcdSettings) -> Policy:
        return cls(
            rules=TierRules(
                vip_paid_total=s.vip_paid_total,
                vip_order_count=s.vip_order_count,
                window=timedelta(days=s.tier_window_days),
                currency=s.tier_currency,
                paid_statuses=frozenset(s.paid_statuses),
            ),
            priorities={
                Tier.VIP: s.priority_vip,
                Tier.RETURNING: s.priority_returning,
                Tier.NEW: s.priority_new,
            },
            preferred_timeout=s.preferred_timeout,
            preferred_max_age=(
                timedelta(days=s.preferred_max_age_days) if s.preferred_max_age_days else None
            ),
            hotlines={name: Hotline.from_settings(name, h) for name, h in s.hotlines.items()},
            default_hotline=s.default_hotline,
        )

    def hotline_for(self, dnis: str) -> Hotline:
        """The hotline a dialled number belongs to; the default one for any other."""
        if dnis:
            for hotline in self.hotlines.values():
                if dnis in hotline.numbers:
                    return hotline
        return self.hotlines[self.default_hotline]

    def priority(self, tier: Tier) -> int:
        return self.priorities.get(tier, 0)


def derive_tier(profile: CustomerProfile | None, rules: TierRules) -> Tier:
    """Explicit tier first; else VIP by spend or order count in the window; else by history."""
    if profile is None:
        return Tier.NEW
    if profile.tier is not None:
        return profile.tier
    stats = profile.stats
    if (
        stats.recent_paid_total >= rules.vip_paid_total
        or stats.recent_paid_count >= rules.vip_order_count
    ):
        return Tier.VIP
    if stats.order_count >= 1:
        return Tier.RETURNING
    return Tier.NEW


def opening(hotline: Hotline, now: datetime, calendar: Mapping[date, CalendarDay]) -> Opening:
    """Is the hotline open at ``now`` (aware), by its local wall clock and calendar?"""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(hotline.tz)
    entry = calendar.get(local.date())
    at = local.time()
    if entry is not None and entry.kind is DayKind.HOLIDAY:
        if is_open(entry.hours or (), at):
            return Opening(True, "open", local, entry)
        return Opening(False, "holiday", local, entry)
    if entry is not None and entry.kind is DayKind.WORKDAY:
        ranges = entry.hours or hotline.workday_hours or hotline.week[0]
        if is_open(ranges, at):
            return Opening(True, "workday", local, entry)
        return Opening(False, "closed", local, entry)
    if is_open(hotline.week[local.weekday()], at):
        return Opening(True, "open", local)
    return Opening(False, "closed", local)


def preferred_agent(
    profile: CustomerProfile | None,
    now: datetime,
    policy: Policy,
    availability: AgentAvailability,
) -> str | None:
    if profile is None or not profile.last_agent:
        return None
    agent = profile.last_agent
    if not _DIALABLE_AGENT.match(agent):
        return None
    if (
        policy.preferred_max_age is not None
        and profile.last_call_at is not None
        and now - profile.last_call_at > policy.preferred_max_age
    ):
        return None
    return agent if availability.is_available(agent) else None


def decide(
    policy: Policy,
    hotline: Hotline,
    profile: CustomerProfile | None,
    now: datetime,
    calendar: Mapping[date, CalendarDay],
    availability: AgentAvailability,
    notes: Mapping[str, str] | None = None,
) -> RoutingDecision:
    """Route one call. ``notes`` (caller number kind, lookup outcome...) are carried along."""
    tier = derive_tier(profile, policy.rules)
    out: dict[str, str] = dict(notes or {})
    out["hotline"] = hotline.name
    out["tier"] = tier.value
    if profile is not None:
        out["customer_id"] = str(profile.customer_id)
        if profile.tier is None:
            out["tier_source"] = "orders"
        else:
            out["tier_source"] = "explicit"
    state = opening(hotline, now, calendar)
    out["local_time"] = state.local.strftime("%Y-%m-%d %H:%M %a")
    if state.day is not None and state.day.name:
        out["day"] = state.day.name
    priority = policy.priority(tier)
    if not state.open:
        return RoutingDecision(
            queue=hotline.queue,
            priority=priority,
            action=Action.VOICEMAIL,
            preferred_timeout=policy.preferred_timeout,
            reason=state.reason,
            notes=out,
        )
    agent = preferred_agent(profile, now, policy, availability)
    reason = f"tier={tier.value} priority={priority}"
    if agent is not None:
        reason += f" preferred={agent}"
    elif profile is not None and profile.last_agent:
        out["last_agent"] = profile.last_agent
    if state.reason == "workday":
        reason += " workday"
    return RoutingDecision(
        queue=hotline.queue,
        priority=priority,
        action=Action.QUEUE,
        preferred_agent=agent,
        preferred_timeout=policy.preferred_timeout,
        queue_timeout=hotline.queue_timeout,
        csat=hotline.csat,
        reason=reason,
        notes=out,
    )


def safe_reason(text: str, limit: int = 120) -> str:
    """A reason the AGI can hand to ``SET VARIABLE`` (no quotes, backslashes, newlines)."""
    return _UNSAFE_REASON.sub("_", text)[:limit]
