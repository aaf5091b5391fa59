"""The pure routing policy: tiers, priorities, preferred agent, hours, holidays, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cti.acd.availability import DialplanChecksAvailability, NoAgentAvailability
from cti.acd.decision import Action, RoutingDecision
from cti.acd.hours import parse_range, parse_schedule
from cti.acd.policy import (
    CalendarDay,
    DayKind,
    Hotline,
    Policy,
    TierRules,
    decide,
    derive_tier,
    opening,
    safe_reason,
)
from cti.acd.settings import AcdSettings, HotlineSettings
from cti.customers.tiers import CustomerProfile, OrderStats, Tier

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES = TierRules()
# Monday 2026-11-23 10:00 in Shanghai.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
OFFICE = Hotline(
    "shop",
    queue="shop",
    week=parse_schedule(["mon-fri 09:00-18:00", "sat 10:00-16:00"]),
    queue_timeout=240,
)


class Only:
    """Availability that knows exactly which agents are free."""

    def __init__(self, *free: str) -> None:
        self.free = set(free)

    def is_available(self, interface: str) -> bool:
        return interface in self.free


def profile(
    tier: Tier | None = None,
    orders: int = 0,
    paid: int = 0,
    total: str = "0",
    last_agent: str | None = None,
    last_call_at: datetime | None = None,
) -> CustomerProfile:
    return CustomerProfile(
        customer_id=7,
        name="张伟",
        tier=tier,
        stats=OrderStats(orders, paid, Decimal(total)),
        last_agent=last_agent,
        last_call_at=last_call_at,
    )


# --- tiers ---------------------------------------------------------------------------------


def test_unknown_caller_is_new() -> None:
    assert derive_tier(None, RULES) is Tier.NEW


def test_customer_without_orders_is_new() -> None:
    assert derive_tier(profile(), RULES) is Tier.NEW


def test_one_order_makes_returning() -> None:
    assert derive_tier(profile(orders=1), RULES) is Tier.RETURNING


def test_vip_by_paid_total_in_window() -> None:
    assert derive_tier(profile(orders=2, paid=2, total="5000.00"), RULES) is Tier.VIP
    assert derive_tier(profile(orders=2, paid=2, total="4999.99"), RULES) is Tier.RETURNING


def test_vip_by_order_count_in_window() -> None:
    assert derive_tier(profile(orders=10, paid=10, total="100"), RULES) is Tier.VIP
    # Ten orders, but only nine paid within the window: not VIP.
    assert derive_tier(profile(orders=10, paid=9, total="100"), RULES) is Tier.RETURNING


def test_explicit_tier_wins_both_ways() -> None:
    assert derive_tier(profile(tier=Tier.VIP), RULES) is Tier.VIP
    assert derive_tier(profile(tier=Tier.NEW, orders=50, paid=50, total="1e6"), RULES) is Tier.NEW


def test_tier_thresholds_come_from_settings() -> None:
    policy = Policy.from_settings(AcdSettings(vip_paid_total=Decimal(1000), vip_order_count=3))
    assert derive_tier(profile(orders=1, paid=1, total="1000"), policy.rules) is Tier.VIP
    assert derive_tier(profile(orders=3, paid=3, total="10"), policy.rules) is Tier.VIP
    assert policy.rules.window_start(MONDAY_10) == MONDAY_10 - timedelta(days=365)


# --- priority and preferred agent -----------------------------------------------------------


def _decide(p: CustomerProfile | None, now: datetime = MONDAY_10, **kw: object):  # type: ignore[no-untyped-def]
    policy = kw.pop("policy", Policy())
    hotline = kw.pop("hotline", OFFICE)
    calendar = kw.pop("calendar", {})
    availability = kw.pop("availability", DialplanChecksAvailability())
    return decide(policy, hotline, p, now, calendar, availability)  # type: ignore[arg-type]


def test_vip_gets_the_highest_priority() -> None:
    new = _decide(None)
    returning = _decide(profile(orders=1))
    vip = _decide(profile(tier=Tier.VIP))
    assert (new.priority, returning.priority, vip.priority) == (0, 5, 10)
    assert {d.action for d in (new, returning, vip)} == {Action.QUEUE}
    assert vip.queue == "shop"
    assert vip.queue_timeout == 240
    assert vip.notes["tier"] == "vip"
    assert vip.notes["customer_id"] == "7"
    assert vip.notes["tier_source"] == "explicit"
    assert "customer_id" not in new.notes


def test_priorities_come_from_settings() -> None:
    policy = Policy.from_settings(AcdSettings(priority_vip=50, priority_returning=20))
    assert _decide(profile(tier=Tier.VIP), policy=policy).priority == 50
    assert _decide(profile(orders=1), policy=policy).priority == 20


def test_last_agent_is_preferred_when_free() -> None:
    p = profile(orders=3, last_agent="PJSIP/1001", last_call_at=MONDAY_10 - timedelta(days=2))
    d = _decide(p, availability=Only("PJSIP/1001", "PJSIP/1002"))
    assert d.preferred_agent == "PJSIP/1001"
    assert d.preferred_timeout == 8
    assert d.channel_variables()["CTI_PREFERRED"] == "PJSIP/1001"
    assert d.channel_variables()["CTI_PREFERRED_TIMEOUT"] == "8"
    assert "preferred=PJSIP/1001" in d.reason


def test_busy_or_logged_out_last_agent_is_not_preferred() -> None:
    p = profile(orders=3, last_agent="PJSIP/1001", last_call_at=MONDAY_10)
    d = _decide(p, availability=Only("PJSIP/1002"))
    assert d.preferred_agent is None
    assert "CTI_PREFERRED" not in d.channel_variables()
    assert d.notes["last_agent"] == "PJSIP/1001"
    assert _decide(p, availability=NoAgentAvailability()).preferred_agent is None


def test_stale_or_undialable_last_agent_is_not_preferred() -> None:
    old = profile(orders=3, last_agent="PJSIP/1001", last_call_at=MONDAY_10 - timedelta(days=91))
    assert _decide(old).preferred_agent is None
    no_limit = Policy.from_settings(AcdSettings(preferred_max_age_days=0))
    assert _decide(old, policy=no_limit).preferred_agent == "PJSIP/1001"
    odd = profile(orders=3, last_agent="Local/1001@agents;x", last_call_at=MONDAY_10)
    assert _decide(odd).preferred_agent is None


def test_preferred_timeout_from_settings() -> None:
    policy = Policy.from_settings(AcdSettings(preferred_timeout=15))
    p = profile(last_agent="PJSIP/1001", last_call_at=MONDAY_10)
    assert _decide(p, policy=policy).channel_variables()["CTI_PREFERRED_TIMEOUT"] == "15"


# --- business hours, holidays, make-up days, time zones ---------------------------------------


def test_open_during_weekly_hours() -> None:
    assert _decide(None).action is Action.QUEUE
    assert _decide(None, MONDAY_10.replace(hour=9, minute=0)).action is Action.QUEUE


def test_closed_outside_weekly_hours_goes_to_voicemail() -> None:
    for at in (
        MONDAY_10.replace(hour=8, minute=59),
        MONDAY_10.replace(hour=18, minute=0),  # the end is exclusive
        MONDAY_10 + timedelta(days=6),  # Sunday: no line for it
        (MONDAY_10 + timedelta(days=5)).replace(hour=16),  # Saturday after 16:00
    ):
        d = _decide(profile(tier=Tier.VIP), at)
        assert d.action is Action.VOICEMAIL, at
        assert d.reason == "closed"
        assert d.channel_variables()["CTI_ACTION"] == "voicemail"
        assert d.preferred_agent is None


def test_holiday_closes_a_working_day() -> None:
    national_day = date(2026, 10, 1)  # a Thursday
    calendar = {national_day: CalendarDay(national_day, DayKind.HOLIDAY, "国庆节")}
    at = datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI)
    d = _decide(profile(orders=1), at, calendar=calendar)
    assert d.action is Action.VOICEMAIL
    assert d.reason == "holiday"
    assert d.notes["day"] == "国庆节"
    # The next day is an ordinary Friday.
    assert _decide(None, at + timedelta(days=1), calendar=calendar).action is Action.QUEUE


def test_holiday_with_short_hours() -> None:
    eve = date(2026, 12, 31)
    calendar = {eve: CalendarDay(eve, DayKind.HOLIDAY, "跨年", (parse_range("09:00-12:00"),))}
    morning = datetime(2026, 12, 31, 11, 0, tzinfo=SHANGHAI)
    assert _decide(None, morning, calendar=calendar).action is Action.QUEUE
    d = _decide(None, morning.replace(hour=13), calendar=calendar)
    assert (d.action, d.reason) == (Action.VOICEMAIL, "holiday")


def test_make_up_working_day_opens_a_weekend_with_working_hours() -> None:
    # 调休: Sunday 2026-09-27 is a working day before the National Day week.
    sunday = date(2026, 9, 27)
    assert sunday.weekday() == 6
    calendar = {sunday: CalendarDay(sunday, DayKind.WORKDAY, "国庆调休")}
    at = datetime(2026, 9, 27, 17, 0, tzinfo=SHANGHAI)
    assert _decide(None, at).action is Action.VOICEMAIL  # an ordinary Sunday
    d = _decide(None, at, calendar=calendar)
    assert d.action is Action.QUEUE
    assert d.reason.endswith("workday")
    # Monday's hours apply: 18:00 is closed again.
    late = _decide(None, at.replace(hour=18), calendar=calendar)
    assert (late.action, late.reason) == (Action.VOICEMAIL, "closed")


def test_make_up_day_uses_configured_workday_hours() -> None:
    saturday = date(2026, 10, 10)
    hotline = Hotline.from_settings(
        "shop",
        HotlineSettings(hours=["mon-fri 09:00-18:00"], workday_hours=["10:00-15:00"]),
    )
    calendar = {saturday: CalendarDay(saturday, DayKind.WORKDAY)}
    at = datetime(2026, 10, 10, 9, 30, tzinfo=SHANGHAI)
    assert _decide(None, at, hotline=hotline, calendar=calendar).action is Action.VOICEMAIL
    at = at.replace(hour=14, minute=59)
    assert _decide(None, at, hotline=hotline, calendar=calendar).action is Action.QUEUE


def test_the_local_date_decides_the_holiday_not_the_utc_date() -> None:
    national_day = date(2026, 10, 1)
    calendar = {national_day: CalendarDay(national_day, DayKind.HOLIDAY, "国庆节")}
    always = Hotline("h", week=parse_schedule(["mon-sun 00:00-24:00"]))
    # 2026-09-30 16:30 UTC is already 1 October 00:30 in Shanghai: holiday.
    just_after = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)
    assert _decide(None, just_after, hotline=always, calendar=calendar).reason == "holiday"
    # 15:59 UTC is 23:59 on 30 September in Shanghai: open.
    just_before = datetime(2026, 9, 30, 15, 59, tzinfo=UTC)
    assert _decide(None, just_before, hotline=always, calendar=calendar).action is Action.QUEUE
    # 1 October 17:00 UTC is already 2 October in Shanghai: open again.
    next_day = datetime(2026, 10, 1, 17, 0, tzinfo=UTC)
    assert _decide(None, next_day, hotline=always, calendar=calendar).action is Action.QUEUE


def test_weekly_hours_are_local_wall_clock_times() -> None:
    # Monday 00:30 UTC is Monday 08:30 in Shanghai (closed); 01:00 UTC is 09:00 (open).
    assert _decide(None, datetime(2026, 11, 23, 0, 30, tzinfo=UTC)).action is Action.VOICEMAIL
    assert _decide(None, datetime(2026, 11, 23, 1, 0, tzinfo=UTC)).action is Action.QUEUE
    # Friday 17:59 Shanghai = 09:59 UTC open; Friday 10:00 UTC = 18:00 closed.
    assert _decide(None, datetime(2026, 11, 27, 9, 59, tzinfo=UTC)).action is Action.QUEUE
    assert _decide(None, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)).action is Action.VOICEMAIL
    # Saturday 02:30 UTC is Saturday 10:30 in Shanghai: open on Saturday hours; Sunday
    # 16:00 UTC is already Monday 00:00 there: the local weekday counts, not the UTC one.
    assert _decide(None, datetime(2026, 11, 28, 2, 30, tzinfo=UTC)).action is Action.QUEUE
    sunday_utc = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    state = opening(OFFICE, sunday_utc, {})
    assert (state.local.weekday(), state.open, state.reason) == (0, False, "closed")


def test_china_has_no_dst_all_year() -> None:
    offsets = {
        datetime(2026, m, 15, 12, tzinfo=UTC).astimezone(SHANGHAI).utcoffset() for m in range(1, 13)
    }
    assert offsets == {timedelta(hours=8)}
    # Across the dates other zones switch (US and EU spring/autumn), 09:00 stays 01:00 UTC.
    for day in (date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)):
        at = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)
        assert opening(OFFICE, at, {}).local.hour == 9


def test_other_time_zone_per_hotline() -> None:
    berlin = Hotline.from_settings(
        "eu", HotlineSettings(timezone="Europe/Berlin", hours=["mon-fri 09:00-17:00"])
    )
    # 2026-03-30 is the Monday after the EU switch to summer time (UTC+2).
    assert opening(berlin, datetime(2026, 3, 30, 7, 0, tzinfo=UTC), {}).open
    assert not opening(berlin, datetime(2026, 3, 30, 6, 59, tzinfo=UTC), {}).open


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        opening(OFFICE, datetime(2026, 11, 23, 10), {})


# --- settings and parsing --------------------------------------------------------------------


def test_hotline_is_chosen_by_dialled_number() -> None:
    policy = Policy.from_settings(
        AcdSettings(
            hotlines={
                "hotline": HotlineSettings(),
                "shop2": HotlineSettings(numbers=["4008005678"], queue="shop2"),
            }
        )
    )
    assert policy.hotline_for("4008005678").queue == "shop2"
    assert policy.hotline_for("4008001234").name == "hotline"
    assert policy.hotline_for("").name == "hotline"


@pytest.mark.parametrize(
    "hours",
    [["mon-fri 9-18"], ["mon-fri 18:00-09:00"], ["xyz 09:00-10:00"], ["mon 25:00-26:00"], ["mon"]],
)
def test_bad_hours_are_refused_at_start(hours: list[str]) -> None:
    with pytest.raises(ValueError):
        HotlineSettings(hours=hours)


def test_bad_acd_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from cti.acd.settings import load_acd_settings
    from cti.settings import SettingsError

    monkeypatch.setenv("CTI_ACD_PRIORITY_VIP", "5000")
    with pytest.raises(SettingsError, match="CTI_ACD_PRIORITY_VIP"):
        load_acd_settings()


def test_hotlines_from_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CTI_ACD_HOTLINES",
        '{"hotline": {"numbers": ["4008001234"], "hours": ["mon-sun 09:00-21:00"]}}',
    )
    policy = Policy.from_settings(AcdSettings())
    assert policy.hotline_for("4008001234").week[6][0].start == 9 * 60


def test_reason_is_safe_for_set_variable() -> None:
    assert safe_reason('fallback: "x"\n\\y') == "fallback: _x___y"


# --- satisfaction survey --------------------------------------------------------------------


def test_the_survey_is_on_per_hotline_unless_switched_off() -> None:
    policy = Policy.from_settings(
        AcdSettings(
            hotlines={
                "hotline": HotlineSettings(),
                "quiet": HotlineSettings(numbers=["4008009999"], queue="quiet", csat=False),
            }
        )
    )
    assert policy.hotlines["hotline"].csat is True
    on = _decide(None, hotline=policy.hotlines["hotline"])
    off = _decide(None, hotline=policy.hotlines["quiet"])
    assert on.channel_variables()["CTI_CSAT"] == "yes"
    assert off.channel_variables()["CTI_CSAT"] == "no"


def test_a_closed_hotline_or_a_fallback_asks_nothing() -> None:
    closed = _decide(None, MONDAY_10.replace(hour=8))
    assert closed.channel_variables()["CTI_CSAT"] == "no"
    # The decision a failing lookup falls back to does not know the hotline's switch.
    assert RoutingDecision().channel_variables()["CTI_CSAT"] == "no"
