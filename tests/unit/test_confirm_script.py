"""A confirmation call says the order's amount as money and only with prompts that exist."""

from __future__ import annotations

import shutil
import subprocess
import wave
from decimal import Decimal
from pathlib import Path

import pytest

from cti.confirmations.models import PUBLIC_ID_MAX, ConfirmationStatus
from cti.confirmations.script import (
    CHARACTER_PROMPTS,
    INTRO,
    MAX_AMOUNT,
    PIECES,
    PUBLIC_ID,
    REASON_PROMPTS,
    TOTAL,
    CallResult,
    Facts,
    Reason,
    amount_words,
    facts_prompts,
    items_words,
    number_words,
    prompt_names,
    spoken,
)
from tests.conftest import need

PROMPTS = Path(__file__).resolve().parents[2] / "dialplans" / "prompts"


def prompt_texts() -> dict[str, str]:
    texts: dict[str, str] = {}
    for line in (PROMPTS / "prompts.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, text = line.partition("|")
            assert name not in texts, f"prompt {name} twice"
            texts[name] = text
    return texts


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        # the and the common cases
        ("2300.50", "两千三百元五角"),
        ("2000", "两千元"),
        ("2000.00", "两千元"),
        ("10.05", "十元零五分"),
        ("1000000", "一百万元"),
        ("0.5", "五角"),
        ("0.05", "五分"),
        ("0.55", "五角五分"),
        ("0.22", "两角两分"),
        ("0", "零元"),
        ("0.00", "零元"),
        # 两 only where a speaker says it: first digit, not before 十
        ("2", "两元"),
        ("12", "十二元"),
        ("20", "二十元"),
        ("22", "二十二元"),
        ("200", "两百元"),
        ("222", "两百二十二元"),
        ("1200", "一千二百元"),
        ("20000", "两万元"),
        ("22000", "两万二千元"),
        ("250000", "二十五万元"),
        ("2000000", "两百万元"),
        ("200000000", "两亿元"),
        # 十 alone at the start, 一十 inside
        ("10", "十元"),
        ("15", "十五元"),
        ("110", "一百一十元"),
        ("100000", "十万元"),
        ("110000", "十一万元"),
        ("1100000", "一百一十万元"),
        ("1000000000", "十亿元"),
        # zeros: one 零 per gap, and before a group without its thousands
        ("101", "一百零一元"),
        ("1001", "一千零一元"),
        ("1010", "一千零一十元"),
        ("10001", "一万零一元"),
        ("100010", "十万零一十元"),
        ("100100", "十万零一百元"),
        ("1000100", "一百万零一百元"),
        ("10010000", "一千零一万元"),
        ("11000", "一万一千元"),
        ("100000001", "一亿零一元"),
        ("100010000", "一亿零一万元"),
        ("110000000", "一亿一千万元"),
        ("100001000", "一亿零一千元"),
        # yuan with jiao and fen
        ("1.01", "一元零一分"),
        ("1.10", "一元一角"),
        ("2.2", "两元两角"),
        ("100.05", "一百元零五分"),
        ("2999.99", "两千九百九十九元九角九分"),
        ("12345.67", "一万二千三百四十五元六角七分"),
        ("999999999999.99", "九千九百九十九亿九千九百九十九万九千九百九十九元九角九分"),
        ("1E+3", "一千元"),
    ],
)
def test_amounts_are_said_as_money(amount: str, words: str) -> None:
    assert amount_words(Decimal(amount)) == words


@pytest.mark.parametrize(
    "amount", ["-1", "-0.01", "0.005", "12.345", "NaN", "Infinity", "1000000000000"]
)
def test_amounts_that_cannot_be_said_are_refused(amount: str) -> None:
    with pytest.raises(ValueError, match="cannot read the amount"):
        amount_words(Decimal(amount))


def test_the_largest_amount_is_readable() -> None:
    assert amount_words(MAX_AMOUNT).endswith("九分")


@pytest.mark.parametrize(
    ("count", "words"),
    [
        (1, "共一件商品"),
        (2, "共两件商品"),
        (3, "共三件商品"),
        (10, "共十件商品"),
        (12, "共十二件商品"),
    ],
)
def test_item_counts(count: int, words: str) -> None:
    assert items_words(count) == words


@pytest.mark.parametrize("count", [0, -1])
def test_an_order_without_items_is_refused(count: int) -> None:
    with pytest.raises(ValueError):
        items_words(count)


def test_every_number_below_ten_thousand_reads_back() -> None:
    """A reader of the words recovers the number: no digit lost or doubled by the zero rules."""
    values = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
    values |= {"六": 6, "七": 7, "八": 8, "九": 9}
    units = {"十": 10, "百": 100, "千": 1000}

    def parse(words: str) -> int:
        total, digit = 0, None
        for char in words:
            if char in values:
                digit = values[char]
            else:
                total += (1 if digit is None else digit) * units[char]
                digit = None
        return total + (digit or 0)

    for n in range(10000):
        assert parse(number_words(n)) == n, (n, number_words(n))


def test_every_prompt_the_app_can_ask_for_is_in_prompts_txt() -> None:
    assert prompt_names() - set(prompt_texts()) == set()


def test_each_character_prompt_says_its_character() -> None:
    texts = prompt_texts()
    for char, name in CHARACTER_PROMPTS.items():
        assert texts[name] == char


def test_the_call_says_exactly_the_words() -> None:
    texts = prompt_texts()
    facts = Facts(Decimal("2300.50"), 3, "high_amount", "A-1")
    prompts = facts_prompts(facts)
    assert prompts[0] == INTRO and prompts[-1] == REASON_PROMPTS[Reason.LARGE_AMOUNT]
    said = "".join(texts[p] for p in prompts[1:-1])
    assert said == "两千三百元五角共三件商品。"
    assert prompts[1:-1] == [
        *spoken("两千三百元五角"),
        TOTAL,
        *spoken("三"),
        PIECES,
    ]


def test_an_unknown_reason_is_read_as_the_generic_one() -> None:
    prompts = facts_prompts(Facts(Decimal("1"), 1, "something new", "A-1"))
    assert prompts[-1] == REASON_PROMPTS[Reason.OTHER]


@pytest.mark.parametrize(
    "facts",
    [Facts(Decimal("-1"), 1, "other", "A"), Facts(Decimal("1"), 0, "other", "A")],
)
def test_unreadable_facts_are_refused(facts: Facts) -> None:
    with pytest.raises(ValueError):
        facts_prompts(facts)


def test_facts_from_the_stored_row() -> None:
    stored = {"amount": "2300.50", "item_count": 3, "reason": "suspected_duplicate"}
    assert Facts.from_stored("SO-1", stored) == Facts(
        Decimal("2300.50"), 3, "suspected_duplicate", "SO-1"
    )
    assert Facts.from_stored("SO-1", {"amount": 12, "item_count": 1}).reason == "other"


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"amount": "12,00", "item_count": 1},
        {"amount": 1.5, "item_count": 1},
        {"amount": True, "item_count": 1},
        {"amount": "1", "item_count": "3"},
        {"amount": "1", "item_count": True},
    ],
)
def test_stored_facts_of_the_wrong_kind_are_refused(stored: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Facts.from_stored("SO-1", stored)


def test_results_are_confirmation_statuses() -> None:
    assert {r.value for r in CallResult} <= {s.value for s in ConfirmationStatus}


def test_public_id_shape_matches_the_column() -> None:
    assert PUBLIC_ID.fullmatch("a" * PUBLIC_ID_MAX)
    assert not PUBLIC_ID.fullmatch("a" * (PUBLIC_ID_MAX + 1))
    for bad in ("", "../etc", 'x"y', "a b", "x\n"):
        assert not PUBLIC_ID.fullmatch(bad)


def test_build_sh_makes_every_prompt_as_8khz_mono_speech(tmp_path: Path) -> None:
    # The devstack installs both; in CI their absence is a failure, not a skip.
    need(bool(shutil.which("espeak-ng") and shutil.which("sox")), "needs espeak-ng and sox")
    subprocess.run(["bash", str(PROMPTS / "build.sh"), str(tmp_path)], check=True, timeout=300)
    for name in prompt_texts():
        with wave.open(str(tmp_path / f"{name}.wav")) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            seconds = w.getnframes() / 8000
        # Trimmed of silence: a character is a syllable, a sentence is longer.
        assert 0.1 < seconds < (1.0 if name in CHARACTER_PROMPTS.values() else 15.0), name
    # Built once: a second run changes nothing.
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    subprocess.run(["bash", str(PROMPTS / "build.sh"), str(tmp_path)], check=True, timeout=300)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_every_reason_the_api_takes_has_its_own_sentence() -> None:
    from cti.confirmations.schemas import ConfirmationReason

    assert {r.value for r in ConfirmationReason} == {r.value for r in Reason}
