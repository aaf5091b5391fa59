"""What the customer hears on a confirmation call: the facts as Mandarin words, then as prompts.

Pure. The call is spoken from fixed prompt files (``dialplans/prompts/prompts.txt``,
built once at install time), never synthesised per call: an amount becomes words
(:func:`amount_words`, e.g. ``两千三百元五角``), and the words become one prompt per
character (:func:`spoken`). So the PBX needs no speech engine and nothing on the
call path waits for one; ``tests/unit/test_confirm_script.py`` checks that every
prompt named here exists in ``prompts.txt`` and says what its character says.

Reading rules (spoken money, as a cashier or a bank's IVR says it):

* groups of four digits (万, 亿); one 零 for a run of zeros inside a number, and
  before a lower group that lacks its thousands (``一百万零一百``, ``一亿零一万``);
* a leading ``一十`` is just ``十`` (``十万零一十``, ``十元零五分``);
* the first digit 2 before a measure or a unit other than 十 is ``两`` (``两千``,
  ``两万``, ``两元``; but ``二十``, and ``一千二百`` inside a number); 角 and 分 each
  take their own digit, so 2 there is ``两`` too (``两角``, ``两分``);
* no 整 and no ``零角``: ``两千元``, ``十元零五分``, ``五角``; nothing at all is ``零元``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

MAX_AMOUNT = Decimal("999999999999.99")
"""Just under 一万亿元: the largest amount :func:`amount_words` reads."""
MAX_COUNT = 999_999_999_999

PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
"""The shape of a confirmation's public id (``Confirmation.public_id``); use ``fullmatch``."""

_DIGITS = "零一二三四五六七八九"
_UNITS = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
_GROUPS = ((10**8, "亿"), (10**4, "万"), (1, ""))


class Reason(StrEnum):
    """Why the shop wants the order confirmed; each has its own sentence.

    The API's ``reason`` codes (``ConfirmationReason``) are these values.
    """

    LARGE_AMOUNT = "high_amount"
    INCOMPLETE_ADDRESS = "incomplete_address"
    DUPLICATE = "suspected_duplicate"
    OTHER = "other"


class CallResult(StrEnum):
    """What the confirmation app concludes; the same words as ``ConfirmationStatus``."""

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"
    NOT_CONFIRMED = "not_confirmed"
    FAILED = "failed"


CHOICES: dict[str, CallResult] = {
    "1": CallResult.CONFIRMED,
    "2": CallResult.CANCELLED,
    "0": CallResult.TRANSFERRED,
}
"""The menu: 确认请按1，取消请按2，转人工请按0."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the confirmation app reads to the customer (from ``Confirmation.facts``)."""

    amount: Decimal
    item_count: int
    reason: str
    """A :class:`Reason` value; anything else is read as :attr:`Reason.OTHER`."""
    order_id: str

    @classmethod
    def from_stored(cls, order_id: str, facts: Mapping[str, Any]) -> Facts:
        """From ``Confirmation.facts``: ``{"amount": "2300.50", "item_count": 3, "reason": …}``.

        Raises ValueError for a value of the wrong kind (the API checked them once;
        a stored row is still not trusted with what a customer hears).
        """
        amount, count, reason = facts.get("amount"), facts.get("item_count"), facts.get("reason")
        if not isinstance(amount, str | int) or isinstance(amount, bool):
            raise ValueError(f"amount {amount!r} is not a decimal string")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            raise ValueError(f"amount {amount!r} is not a decimal string") from None
        if not isinstance(count, int) or isinstance(count, bool):
            raise ValueError(f"item_count {count!r} is not a whole number")
        return cls(value, count, reason if isinstance(reason, str) else Reason.OTHER, order_id)


def _group(n: int) -> str:
    """0 < n < 10000: ``1001`` -> ``一千零一``, ``110`` -> ``一百一十``."""
    out: list[str] = []
    gap = False
    for size, unit in _UNITS:
        digit = n // size % 10
        if digit == 0:
            gap = bool(out)
            continue
        if gap:
            out.append("零")
            gap = False
        out.append(_DIGITS[digit] + unit)
    return "".join(out)


def number_words(n: int) -> str:
    """A whole number as said before a measure word: ``2000`` -> ``两千``, ``12`` -> ``十二``."""
    if n < 0 or n > MAX_COUNT:
        raise ValueError(f"cannot read {n}: outside 0..{MAX_COUNT}")
    if n == 0:
        return "零"
    parts: list[str] = []
    gap = False
    for size, unit in _GROUPS:
        value = n // size % 10000
        if value == 0:
            gap = bool(parts)
            continue
        if parts and (gap or value < 1000):
            parts.append("零")
        parts.append(_group(value) + unit)
        gap = False
    text = "".join(parts)
    if text.startswith("一十"):
        text = text[1:]
    if text.startswith("二") and not text.startswith("二十"):
        text = "两" + text[1:]
    return text


def _small(digit: int) -> str:
    return "两" if digit == 2 else _DIGITS[digit]


def amount_words(amount: Decimal) -> str:
    """Yuan, jiao and fen in words: ``Decimal("2300.50")`` -> ``两千三百元五角``.

    Raises ValueError for a negative, non-finite or too large amount, and for one
    with a fraction of a fen (``0.005``): money is not rounded behind the shop's back.
    """
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"cannot read the amount {amount}: outside 0..{MAX_AMOUNT}")
    fen_total = amount * 100
    if fen_total != fen_total.to_integral_value():
        raise ValueError(f"cannot read the amount {amount}: finer than one fen")
    yuan, rest = divmod(int(fen_total), 100)
    jiao, fen = divmod(rest, 10)
    parts: list[str] = []
    if yuan:
        parts.append(number_words(yuan) + "元")
    if jiao:
        parts.append(_small(jiao) + "角")
    if fen:
        if yuan and not jiao:
            parts.append("零")
        parts.append(_small(fen) + "分")
    return "".join(parts) or "零元"


def items_words(count: int) -> str:
    """``3`` -> ``共三件商品``."""
    if count < 1:
        raise ValueError(f"an order has at least one item, not {count}")
    return f"共{number_words(count)}件商品"


# ---- prompts (names of dialplans/prompts/prompts.txt, played from sounds/<lang>/cti/) -------

PROMPT_DIR = "cti"

CHARACTER_PROMPTS: dict[str, str] = {
    "零": "cti-num-0",
    "一": "cti-num-1",
    "二": "cti-num-2",
    "两": "cti-num-liang",
    "三": "cti-num-3",
    "四": "cti-num-4",
    "五": "cti-num-5",
    "六": "cti-num-6",
    "七": "cti-num-7",
    "八": "cti-num-8",
    "九": "cti-num-9",
    "十": "cti-num-shi",
    "百": "cti-num-bai",
    "千": "cti-num-qian",
    "万": "cti-num-wan",
    "亿": "cti-num-yi",
    "元": "cti-money-yuan",
    "角": "cti-money-jiao",
    "分": "cti-money-fen",
}
"""One prompt per character that :func:`number_words` and :func:`amount_words` can say."""

INTRO = "cti-confirm-intro"
"""您好，这里是订单确认来电。您的订单金额 (then the amount)."""
TOTAL = "cti-confirm-total"
"""共 (then the count)."""
PIECES = "cti-confirm-pieces"
"""件商品。"""
MENU = "cti-confirm-menu"
REASON_PROMPTS: dict[Reason, str] = {
    Reason.LARGE_AMOUNT: "cti-confirm-reason-large-amount",
    Reason.INCOMPLETE_ADDRESS: "cti-confirm-reason-incomplete-address",
    Reason.DUPLICATE: "cti-confirm-reason-duplicate",
    Reason.OTHER: "cti-confirm-reason-other",
}
GOODBYE: dict[CallResult, str] = {
    CallResult.CONFIRMED: "cti-confirm-done-confirmed",
    CallResult.CANCELLED: "cti-confirm-done-cancelled",
    CallResult.TRANSFERRED: "cti-confirm-done-transfer",
    CallResult.NOT_CONFIRMED: "cti-confirm-done-no-input",
}


def spoken(words: str) -> list[str]:
    """The prompts that say ``words``, one per character, e.g. ``两千元`` -> three prompts."""
    out: list[str] = []
    for char in words:
        name = CHARACTER_PROMPTS.get(char)
        if name is None:
            raise ValueError(f"no prompt says {char!r}")
        out.append(name)
    return out


def reason_of(code: str) -> Reason:
    try:
        return Reason(code)
    except ValueError:
        return Reason.OTHER


def facts_prompts(facts: Facts) -> list[str]:
    """Greeting and facts: 您好…您的订单金额 / 两千三百元五角 / 共 / 三 / 件商品 / the reason.

    Raises ValueError for facts that cannot be read (see :func:`amount_words`).
    """
    if facts.item_count < 1:
        raise ValueError(f"an order has at least one item, not {facts.item_count}")
    return [
        INTRO,
        *spoken(amount_words(facts.amount)),
        TOTAL,
        *spoken(number_words(facts.item_count)),
        PIECES,
        REASON_PROMPTS[reason_of(facts.reason)],
    ]


def prompt_names() -> set[str]:
    """Every prompt this module can ask for (without the folder)."""
    return {
        INTRO,
        TOTAL,
        PIECES,
        MENU,
        *CHARACTER_PROMPTS.values(),
        *REASON_PROMPTS.values(),
        *GOODBYE.values(),
    }
