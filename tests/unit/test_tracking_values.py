"""AMI header values as both trackers read them (cti/tracking/values.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.tracking import values


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("O\\'Brien", "O'Brien"),  # ast_escape_c escapes the quote
        ('Wang, \\"Boss\\" Jr', 'Wang, "Boss" Jr'),
        ("back\\\\slash", "back\\slash"),
        ("two\\nlines", "two lines"),  # a name is one line of text
        ("\x1b[2Jbell\\a\x00", "[2Jbell"),  # no terminal escape, BEL or NUL
        ("trailing\\", "trailing\\"),
        ("张伟", "张伟"),
        ("<unknown>", None),
        ("", None),
        (None, None),
    ],
)
def test_caller_names_are_unescaped(raw: str | None, name: str | None) -> None:
    assert values.clean_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("午休", "午休"),
        ('a"]b', 'a"]b'),  # not a control character: kept, escaping is the reader's job
        ("x\r\nINFO forged", "x  INFO forged"),
        ("a\u2028b\x85c", "a b c"),
        ("\x1b[31mred\x1b[0m\x07", "[31mred[0m"),
        ("abc\u202edcba", "abcdcba"),  # no right-to-left override
        ("\x00\t", ""),
    ],
)
def test_printable_drops_control_characters(raw: str, text: str) -> None:
    assert values.printable(raw) == text


@pytest.mark.parametrize(
    ("raw", "number"),
    [("13800138000", "13800138000"), ("<unknown>", None), ("", None), (None, None)],
)
def test_caller_numbers(raw: str | None, number: str | None) -> None:
    assert values.clean_id(raw) == number


def test_a_missing_header_is_not_an_unknown_id() -> None:
    assert values.is_unknown_id("<unknown>") and values.is_unknown_id("")
    assert not values.is_unknown_id(None)


def test_the_hotline_noop_keeps_the_raw_number() -> None:
    noop = values.hotline_noop_number
    assert noop('CTI hotline 4008001234 from "张伟" <13800138000>') == "13800138000"
    assert noop('CTI hotline 4008001234 from "x" <<unknown>>') == "<unknown>"
    assert noop('CTI hotline 4008001234 from "" <>') == ""
    assert noop("CTI queue hotline ended: TIMEOUT") is None


def test_dialled_extensions_skip_the_special_ones() -> None:
    assert values.dialled_exten("4008001234") == "4008001234"
    assert [values.dialled_exten(x) for x in ("s", "h", "", None)] == [None] * 4


@pytest.mark.parametrize(
    ("channel", "interface"),
    [
        ("PJSIP/1001-0000000a", "PJSIP/1001"),
        ("Local/1001@cti-agents-00000000;1", "Local/1001@cti-agents"),
        ("PJSIP/callers-00000008", "PJSIP/callers"),
        ("PJSIP/1001", "PJSIP/1001"),
    ],
)
def test_interface_of_a_channel(channel: str, interface: str) -> None:
    assert values.interface_of(channel) == interface


def test_interface_and_extension() -> None:
    assert values.extension_of("PJSIP/1001") == "1001"
    assert values.extension_of("Local/1002@cti-agents") == "1002"
    assert values.extension_of("PJSIP/callers", "1003") == "1003"
    assert values.extension_of(None, None) is None
    assert values.interface_of_extension("1001") == "PJSIP/1001"
    assert values.extension_of(values.interface_of_extension("1001")) == "1001"


def test_numbers() -> None:
    assert values.to_int("16") == 16
    assert values.to_int("x") is values.to_int("") is values.to_int(None) is None
    assert values.int_or("x", 7) == 7 and values.int_or("3", 7) == 3
    assert values.to_float("1.5") == 1.5
    assert [values.to_float(x) for x in ("nan", "inf", "1e400", "-inf", "x")] == [None] * 5


def test_times() -> None:
    assert values.timestamp("1795430853.786367") == 1795430853.786367
    assert values.timestamp("nan") is None
    assert values.epoch("1795431443") == 1795431443.0
    assert values.epoch("0") is None  # Asterisk's "never"
    assert values.duration_s("01:02:03") == 3723
    assert values.duration_s("00:00:07") == 7
    assert values.duration_s("soon") == values.duration_s(None) == 0


@pytest.mark.parametrize(
    ("raw", "paused"),
    [("1", True), ("true", True), (" Yes ", True), ("0", False), ("false", False), (None, False)],
)
def test_paused_flag(raw: str | None, paused: bool) -> None:
    assert values.paused_flag(raw) is paused


@given(st.one_of(st.none(), st.text(max_size=20)))
def test_parsers_never_raise(raw: str | None) -> None:
    for parse in (
        values.clean_id,
        values.clean_name,
        values.dialled_exten,
        values.to_int,
        values.to_float,
        values.timestamp,
        values.epoch,
        values.duration_s,
        values.paused_flag,
        values.extension_of,
    ):
        parse(raw)
    if raw is not None:
        values.unescape_c(raw)
        values.interface_of(raw)
        values.hotline_noop_number(raw)
