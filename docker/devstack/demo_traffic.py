"""Who calls the demo's hotline and when: pure, seeded, no I/O.

`make demo` (docker/devstack/demo.py) draws everything from one ``random.Random``:
the shop's known customers (returning and VIP callers, with their orders), the
calls (Poisson arrivals: exponential gaps of mean ``60 / rate`` seconds; who calls
and how the caller behaves), and the customers the confirmation calls reach. The
same seed gives the same day.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯")
# fmt: off
GIVEN_NAMES = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "秀英", "霞", "平", "刚", "桂英", "子轩", "浩然", "欣怡", "梓涵", "雨桐",
    "宇航", "思远", "佳怡",
)
MOBILE_PREFIXES = (
    "130", "131", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "158", "159", "177", "180", "186", "187", "188", "189", "199",
)
# fmt: on


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: str


PRODUCTS = (
    Product("TEA-250", "西湖龙井 250g", "128.00"),
    Product("CASE-15", "手机壳", "89.00"),
    Product("EAR-01", "蓝牙耳机", "399.00"),
    Product("RICE-5L", "电饭煲", "459.00"),
    Product("SHOE-42", "跑步鞋", "569.00"),
    Product("DOWN-XL", "羽绒服", "899.00"),
)
#: what a VIP buys too, and what a confirmation call is about (high amounts)
BIG_PRODUCTS = (
    Product("ROBOT-V9", "扫地机器人", "2999.00"),
    Product("TV-65", "65 英寸电视", "4999.00"),
    Product("PHONE-P", "手机 512G", "6999.00"),
)
ORDER_STATUSES = ("paid", "shipped", "delivered")

#: the key a confirmation call's customer presses, from the last digit of the number it
#: dials (docker/devstack/sipp/customer.xml): 1 confirms, 0 asks for an agent, 2 cancels
CONFIRM_KEYS = ("1", "0", "2")


class Kind(StrEnum):
    NEW = "new"
    RETURNING = "returning"
    VIP = "vip"


class Behaviour(StrEnum):
    BRIEF = "brief"
    """A short question: hangs up 12 s after Asterisk answers (caller.xml)."""
    CHATTY = "chatty"
    """Talks for 28 s after Asterisk answers (caller_talks.xml)."""
    IMPATIENT = "impatient"
    """Hangs up ``patience_s`` after Asterisk answers, answered or not."""


@dataclass(frozen=True, slots=True)
class Customer:
    phone: str
    name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    order_id: str
    product: Product
    status: str
    days_ago: int


@dataclass(frozen=True, slots=True)
class PlannedCall:
    at: float
    """Seconds after the demo's first call may be placed."""
    customer: Customer
    behaviour: Behaviour
    patience_s: float | None = None
    """Whole seconds, for :attr:`Behaviour.IMPATIENT` only."""


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of callers: by kind (weights) and by behaviour (fractions of all calls)."""

    new: float = 0.4
    returning: float = 0.4
    vip: float = 0.2
    impatient: float = 0.2
    chatty: float = 0.4
    patience_s: tuple[float, float] = (3.0, 15.0)

    def __post_init__(self) -> None:
        kinds = (self.new, self.returning, self.vip)
        if min(kinds) < 0 or sum(kinds) <= 0:
            raise ValueError(f"caller kind weights must be >= 0 and not all 0: {kinds}")
        if min(self.impatient, self.chatty) < 0 or self.impatient + self.chatty > 1:
            raise ValueError(
                f"impatient ({self.impatient}) and chatty ({self.chatty}) are fractions "
                "of all calls: each >= 0, together <= 1"
            )
        low, high = self.patience_s
        if not 1 <= low <= high:
            raise ValueError(f"patience range {self.patience_s}: 1 <= low <= high seconds")

    def kind_shares(self) -> dict[Kind, float]:
        total = self.new + self.returning + self.vip
        return {
            Kind.NEW: self.new / total,
            Kind.RETURNING: self.returning / total,
            Kind.VIP: self.vip / total,
        }


def chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def mobile_number(rng: random.Random, last_digit: str | None = None) -> str:
    """An 11-digit mainland mobile number, optionally ending in ``last_digit``."""
    number = rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    return number if last_digit is None else number[:-1] + last_digit


def _fresh_number(rng: random.Random, taken: set[str], last_digit: str | None = None) -> str:
    while True:
        number = mobile_number(rng, last_digit)
        if number not in taken:
            taken.add(number)
            return number


def customer_pool(rng: random.Random, returning: int, vip: int) -> list[Customer]:
    """The shop's known customers: ``returning`` with orders, ``vip`` marked VIP."""
    taken: set[str] = set()
    return [
        Customer(_fresh_number(rng, taken), chinese_name(rng), kind)
        for kind, n in ((Kind.RETURNING, returning), (Kind.VIP, vip))
        for _ in range(n)
    ]


def orders_of(rng: random.Random, customer: Customer) -> list[PlannedOrder]:
    """A known customer's order history (none for a new caller), newest last."""
    if customer.kind is Kind.NEW:
        return []
    count = rng.randint(1, 3) if customer.kind is Kind.RETURNING else rng.randint(2, 4)
    products = PRODUCTS if customer.kind is Kind.RETURNING else PRODUCTS + BIG_PRODUCTS
    days = sorted(rng.sample(range(1, 90), count), reverse=True)
    return [
        PlannedOrder(
            order_id=f"DEMO-{customer.phone}-{i + 1}",
            product=rng.choice(products),
            status=rng.choice(ORDER_STATUSES) if d > 3 else "paid",
            days_ago=d,
        )
        for i, d in enumerate(days)
    ]


def inter_arrivals(rng: random.Random, rate_per_min: float) -> Iterator[float]:
    """Poisson arrivals: exponential gaps between calls, mean ``60 / rate_per_min`` s."""
    if not rate_per_min > 0:
        raise ValueError(f"rate must be > 0 calls a minute, not {rate_per_min}")
    per_s = rate_per_min / 60
    while True:
        yield rng.expovariate(per_s)


def call_plan(
    rng: random.Random, rate_per_min: float, pool: Sequence[Customer], mix: Mix = Mix()
) -> Iterator[PlannedCall]:
    """The calls, for ever: when, who (a new number, or one of ``pool``), how they behave."""
    by_kind = {kind: [c for c in pool if c.kind is kind] for kind in Kind}
    shares = mix.kind_shares()
    kinds = [k for k in Kind if shares[k] > 0 and (k is Kind.NEW or by_kind[k])]
    if not kinds:
        raise ValueError("no caller can be drawn: the pool lacks the kinds the mix asks for")
    weights = [shares[k] for k in kinds]
    taken = {c.phone for c in pool}
    at = 0.0
    for gap in inter_arrivals(rng, rate_per_min):
        at += gap
        kind = rng.choices(kinds, weights)[0]
        if kind is Kind.NEW:
            customer = Customer(_fresh_number(rng, taken), chinese_name(rng), Kind.NEW)
        else:
            customer = rng.choice(by_kind[kind])
        roll = rng.random()
        if roll < mix.impatient:
            patience = float(round(rng.uniform(*mix.patience_s)))
            yield PlannedCall(at, customer, Behaviour.IMPATIENT, patience)
        elif roll < mix.impatient + mix.chatty:
            yield PlannedCall(at, customer, Behaviour.CHATTY)
        else:
            yield PlannedCall(at, customer, Behaviour.BRIEF)


def confirmation_customers(rng: random.Random, avoid: Sequence[Customer]) -> Iterator[Customer]:
    """The customers confirmation calls reach: their numbers end in 1, 0, 2, 1, 0, 2, ..."""
    taken = {c.phone for c in avoid}
    n = 0
    while True:
        key = CONFIRM_KEYS[n % len(CONFIRM_KEYS)]
        yield Customer(_fresh_number(rng, taken, key), chinese_name(rng), Kind.RETURNING)
        n += 1


def closed_hours(now: datetime) -> list[str]:
    """Opening hours (``CTI_ACD_HOTLINES`` ``hours``) closed at ``now`` and for the hour after.

    Nine hours a day starting two hours from now (cut at midnight), so the after-hours
    line is shut during the demo whatever time it starts.
    """
    start = (now.hour + 2) % 24
    end = min(start + 9, 24)
    return [f"mon-sun {start:02d}:00-{end:02d}:00"]


def _mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


def format_live(queue: Mapping[str, Any], clock: str) -> str:
    """One terminal line of ``GET /api/v1/queues/{name}``: now, the agents, today so far."""
    longest = queue.get("longest_wait_s")
    waiting = f"{queue['waiting']} waiting"
    if longest is not None:
        waiting += f" (longest {_mmss(longest)})"
    a = queue["agents"]
    agents = (
        f"agents {a['available']} available, {a['ringing']} ringing, {a['on_call']} on call, "
        f"{a['wrap_up']} wrap-up, {a['paused']} paused"
    )
    today = queue.get("today")
    if today is None:
        figures = "today n/a"
    else:
        sl = today.get("service_level")
        figures = (
            f"today offered {today['offered']}, answered {today['answered']}, "
            f"abandoned {today['abandoned']}, SL {'-' if sl is None else f'{sl:.0%}'}"
        )
    return f"[{clock}] {queue['queue']}: {waiting} | {agents} | {figures}"


__all__ = [
    "BIG_PRODUCTS",
    "CONFIRM_KEYS",
    "PRODUCTS",
    "Behaviour",
    "Customer",
    "Kind",
    "Mix",
    "PlannedCall",
    "PlannedOrder",
    "Product",
    "call_plan",
    "chinese_name",
    "closed_hours",
    "confirmation_customers",
    "customer_pool",
    "format_live",
    "inter_arrivals",
    "mobile_number",
    "orders_of",
]
