"""`make demo`'s callers (docker/devstack/demo_traffic.py): Poisson arrivals, the caller mix."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import demo_traffic as traffic
import pytest

from cti.acd.hours import is_open, parse_schedule
from cti.acd.settings import HotlineSettings
from cti.queues.schemas import QueueOut

Kind, Behaviour = traffic.Kind, traffic.Behaviour


def plan(seed: int, rate: float, n: int, mix: traffic.Mix = traffic.Mix()) -> tuple[
    list[traffic.Customer], list[traffic.PlannedCall]
]:  # fmt: skip
    rng = random.Random(seed)
    pool = traffic.customer_pool(rng, returning=12, vip=4)
    return pool, list(islice(traffic.call_plan(rng, rate, pool, mix), n))


def test_arrivals_are_poisson_at_the_rate_asked() -> None:
    # 6 calls a minute: exponential gaps, mean 10 s and standard deviation 10 s (a fixed
    # interval or a uniform gap would have a much smaller spread).
    gaps = list(islice(traffic.inter_arrivals(random.Random(1), 6.0), 20000))
    assert statistics.fmean(gaps) == pytest.approx(10.0, rel=0.03)
    assert statistics.pstdev(gaps) == pytest.approx(10.0, rel=0.05)
    assert min(gaps) > 0
    # Calls in one-minute windows: Poisson, so the variance equals the mean (6).
    _, calls = plan(2, 6.0, 12000)
    per_minute = Counter(int(c.at // 60) for c in calls)
    counts = [per_minute.get(m, 0) for m in range(int(calls[-1].at // 60))]
    assert statistics.fmean(counts) == pytest.approx(6.0, rel=0.05)
    assert statistics.pvariance(counts) == pytest.approx(6.0, rel=0.1)


def test_callers_mix_new_returning_and_vip_and_behave_as_asked() -> None:
    pool, calls = plan(3, 20.0, 6000)
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    kinds = Counter(c.customer.kind for c in calls)
    assert kinds[Kind.NEW] / len(calls) == pytest.approx(0.4, abs=0.03)
    assert kinds[Kind.RETURNING] / len(calls) == pytest.approx(0.4, abs=0.03)
    assert kinds[Kind.VIP] / len(calls) == pytest.approx(0.2, abs=0.03)
    behaviours = Counter(c.behaviour for c in calls)
    assert behaviours[Behaviour.IMPATIENT] / len(calls) == pytest.approx(0.2, abs=0.03)
    assert behaviours[Behaviour.CHATTY] / len(calls) == pytest.approx(0.4, abs=0.03)
    assert behaviours[Behaviour.BRIEF] / len(calls) == pytest.approx(0.4, abs=0.03)
    patience = [c.patience_s for c in calls if c.behaviour is Behaviour.IMPATIENT]
    assert set(patience) == {float(s) for s in range(3, 16)}  # whole seconds, 3..15
    assert all(c.patience_s is None for c in calls if c.behaviour is not Behaviour.IMPATIENT)

    # Known callers come from the shop's customers (whose orders the demo pushed);
    # a new caller's number is nobody's before, and never calls twice as "new".
    by_phone = {c.phone: c for c in pool}
    known = [c.customer for c in calls if c.customer.kind is not Kind.NEW]
    assert all(by_phone[c.phone] == c for c in known)
    assert {c.phone for c in known} == set(by_phone)  # every one of them calls
    new = [c.customer.phone for c in calls if c.customer.kind is Kind.NEW]
    assert len(set(new)) == len(new) and not set(new) & set(by_phone)
    assert all(len(p) == 11 and p.startswith("1") and p.isdigit() for p in new)
    assert all(2 <= len(c.customer.name) <= 3 for c in calls)


def test_a_mix_of_only_vips_and_the_same_seed_the_same_day() -> None:
    _, calls = plan(4, 5.0, 200, traffic.Mix(new=0, returning=0, vip=1, impatient=1, chatty=0))
    assert {c.customer.kind for c in calls} == {Kind.VIP}
    assert {c.behaviour for c in calls} == {Behaviour.IMPATIENT}
    assert plan(5, 5.0, 300) == plan(5, 5.0, 300)
    assert plan(5, 5.0, 300) != plan(6, 5.0, 300)


@pytest.mark.parametrize(
    "mix",
    [
        {"new": -1.0},
        {"new": 0.0, "returning": 0.0, "vip": 0.0},
        {"impatient": 0.7, "chatty": 0.5},
        {"patience_s": (0.0, 5.0)},
        {"patience_s": (9.0, 5.0)},
    ],
)
def test_a_bad_mix_is_refused(mix: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        traffic.Mix(**mix)  # type: ignore[arg-type]


def test_a_bad_rate_is_refused() -> None:
    for rate in (0.0, -3.0, float("nan")):
        with pytest.raises(ValueError, match="rate must be > 0"):
            next(traffic.inter_arrivals(random.Random(1), rate))


def test_orders_of_known_customers() -> None:
    rng = random.Random(7)
    pool = traffic.customer_pool(rng, returning=30, vip=10)
    assert len({c.phone for c in pool}) == 40
    for customer in pool:
        orders = traffic.orders_of(rng, customer)
        low, high = (1, 3) if customer.kind is Kind.RETURNING else (2, 4)
        assert low <= len(orders) <= high
        assert [o.order_id for o in orders] == [
            f"DEMO-{customer.phone}-{i}" for i in range(1, len(orders) + 1)
        ]
        assert [o.days_ago for o in orders] == sorted((o.days_ago for o in orders), reverse=True)
    new = traffic.Customer("13800000000", "王伟", Kind.NEW)
    assert traffic.orders_of(rng, new) == []


def test_confirmation_customers_press_1_0_2_in_turn() -> None:
    rng = random.Random(8)
    pool = traffic.customer_pool(rng, returning=5, vip=1)
    reached = list(islice(traffic.confirmation_customers(rng, pool), 9))
    assert [c.phone[-1] for c in reached] == list("102102102")
    assert len({c.phone for c in reached}) == 9
    assert not {c.phone for c in reached} & {c.phone for c in pool}


def test_the_after_hours_line_is_closed_now_and_for_the_next_hour() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 12, 7, 0, 0, tzinfo=tz)  # a Monday
    for minutes in range(0, 7 * 24 * 60, 29):
        now = start + timedelta(minutes=minutes)
        hours = traffic.closed_hours(now)
        HotlineSettings(numbers=["4008005678"], hours=hours)  # the service accepts them
        week = parse_schedule(hours)
        for at in (now, now + timedelta(minutes=59)):
            assert not is_open(week[at.weekday()], at.time()), (now, hours)
        assert any(week), hours  # open some time: a real after-sales line


def test_the_live_line_of_a_queue() -> None:
    body = {
        "queue": "hotline",
        "waiting": 2,
        "longest_wait_s": 75.4,
        "oldest_waiting_since": "2026-12-07T02:00:00Z",
        "agents": {
            "available": 1,
            "ringing": 0,
            "on_call": 2,
            "wrap_up": 0,
            "paused": 0,
            "paused_by_reason": {},
            "logged_out": 0,
        },
        "members": [],
        "at": "2026-12-07T02:01:15Z",
        "today": {
            "offered": 14,
            "answered": 11,
            "abandoned": 2,
            "service_level": 0.8181,
            "threshold_s": 20,
        },
        "day": "2026-12-07",
        "waiting_series": [],
    }
    # The shape GET /api/v1/queues/{name} answers with.
    out = QueueOut.model_validate(body).model_dump(mode="json")
    assert traffic.format_live(out, "10:01:15") == (
        "[10:01:15] hotline: 2 waiting (longest 1:15) | agents 1 available, 0 ringing, "
        "2 on call, 0 wrap-up, 0 paused | today offered 14, answered 11, abandoned 2, SL 82%"
    )
    quiet = {**out, "waiting": 0, "longest_wait_s": None, "today": None}
    assert traffic.format_live(quiet, "10:01:20") == (
        "[10:01:20] hotline: 0 waiting | agents 1 available, 0 ringing, 2 on call, "
        "0 wrap-up, 0 paused | today n/a"
    )
