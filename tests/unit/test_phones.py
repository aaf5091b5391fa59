"""Every way a trunk, a shop or a person writes a number gives the same E.164 key."""

from __future__ import annotations

import pytest

from cti.customers.phones import NumberKind, normalize

MOBILE = "+8613800138000"
BEIJING = "+861012345678"

FORMS = [
    # Mobile, as shops and trunks write it.
    ("+86 138 0013 8000", MOBILE, NumberKind.MOBILE),
    ("+86-138-0013-8000", MOBILE, NumberKind.MOBILE),
    ("+8613800138000", MOBILE, NumberKind.MOBILE),
    ("008613800138000", MOBILE, NumberKind.MOBILE),
    ("0086 138 0013 8000", MOBILE, NumberKind.MOBILE),
    ("13800138000", MOBILE, NumberKind.MOBILE),
    (" 138 0013 8000 ", MOBILE, NumberKind.MOBILE),
    ("138-0013-8000", MOBILE, NumberKind.MOBILE),
    ("86 13800138000", MOBILE, NumberKind.MOBILE),  # trunk sends the country code bare
    ("8613800138000", MOBILE, NumberKind.MOBILE),
    ("013800138000", MOBILE, NumberKind.MOBILE),  # a PBX that prefixes 0 to mobiles
    ("+86 0 138 0013 8000", MOBILE, NumberKind.MOBILE),
    ("sip:+8613800138000@203.0.113.5", MOBILE, NumberKind.MOBILE),
    ("tel:+86-138-0013-8000", MOBILE, NumberKind.MOBILE),
    # Carrier-selection ("IP dial") prefixes in front of a mobile or a fixed line.
    ("17951 13800138000", MOBILE, NumberKind.MOBILE),
    ("1795113800138000", MOBILE, NumberKind.MOBILE),
    ("12593 13800138000", MOBILE, NumberKind.MOBILE),
    ("17911 13800138000", MOBILE, NumberKind.MOBILE),
    ("17911 010 12345678", BEIJING, NumberKind.FIXED_LINE),
    ("1790901012345678", BEIJING, NumberKind.FIXED_LINE),
    # Fixed lines with area code.
    ("010-12345678", BEIJING, NumberKind.FIXED_LINE),
    ("01012345678", BEIJING, NumberKind.FIXED_LINE),
    ("(010) 1234 5678", BEIJING, NumberKind.FIXED_LINE),
    ("+86 10 1234 5678", BEIJING, NumberKind.FIXED_LINE),
    ("+86 (0)10 1234 5678", BEIJING, NumberKind.FIXED_LINE),
    ("+861012345678", BEIJING, NumberKind.FIXED_LINE),
    ("0086-10-12345678", BEIJING, NumberKind.FIXED_LINE),
    ("0755-8888 8888", "+8675588888888", NumberKind.FIXED_LINE),
    ("021 6123 4567", "+862161234567", NumberKind.FIXED_LINE),
    ("0571-87654321", "+8657187654321", NumberKind.FIXED_LINE),
    # International callers.
    ("+1 415 555 0100", "+14155550100", NumberKind.FIXED_OR_MOBILE),
    ("00 1 415 555 0100", "+14155550100", NumberKind.FIXED_OR_MOBILE),
    ("+852 2123 4567", "+85221234567", NumberKind.FIXED_LINE),
    ("00852 21234567", "+85221234567", NumberKind.FIXED_LINE),
    ("+44 20 7946 0958", "+442079460958", NumberKind.FIXED_LINE),
    # 400 / 800 service numbers (another company's hotline calling).
    ("400-800-1234", "+864008001234", NumberKind.SERVICE),
    ("+86 400 800 1234", "+864008001234", NumberKind.SERVICE),
    ("800-810-1234", "+868008101234", NumberKind.SERVICE),
]

UNKNOWN = [
    ("", NumberKind.WITHHELD),
    ("   ", NumberKind.WITHHELD),
    ("anonymous", NumberKind.WITHHELD),
    ("Anonymous", NumberKind.WITHHELD),
    ("<unknown>", NumberKind.WITHHELD),
    ("unknown", NumberKind.WITHHELD),
    ("Restricted", NumberKind.WITHHELD),
    ("PRIVATE", NumberKind.WITHHELD),
    ("0000", NumberKind.WITHHELD),
    ("0", NumberKind.WITHHELD),
    ("sip:anonymous@anonymous.invalid", NumberKind.WITHHELD),
    ("10086", NumberKind.SHORT),
    ("95555", NumberKind.SHORT),
    ("110", NumberKind.SHORT),
    ("12345678", NumberKind.INVALID),  # local fixed line without area code
    ("1380013800", NumberKind.INVALID),  # one digit short
    ("138001380001", NumberKind.INVALID),  # one digit long
    ("Anonymous Caller", NumberKind.WITHHELD),  # letters only: nothing to look up
    ("138-0013-80xx", NumberKind.INVALID),
    ("+86", NumberKind.INVALID),
    ("1" * 200, NumberKind.INVALID),
]


@pytest.mark.parametrize(("raw", "e164", "kind"), FORMS)
def test_real_world_forms_give_one_key(raw: str, e164: str, kind: NumberKind) -> None:
    number = normalize(raw)
    assert number.e164 == e164
    assert number.kind is kind


@pytest.mark.parametrize(("raw", "kind"), UNKNOWN)
def test_withheld_short_and_garbage_are_unknown_not_errors(raw: str, kind: NumberKind) -> None:
    number = normalize(raw)
    assert number.e164 is None
    assert number.kind is kind
    assert not number.known


def test_none_is_withheld() -> None:
    assert normalize(None).kind is NumberKind.WITHHELD


def test_local_area_code_completes_a_fixed_line_sent_without_it() -> None:
    assert normalize("62345678", local_area_code="10").e164 == "+861062345678"
    assert normalize("87654321", local_area_code="571").e164 == "+8657187654321"
    # Mobiles and numbers with an area code are left alone.
    assert normalize("13800138000", local_area_code="10").e164 == MOBILE
    assert normalize("021 6123 4567", local_area_code="10").e164 == "+862161234567"


def test_other_default_region() -> None:
    assert normalize("(415) 555-0100", region="US").e164 == "+14155550100"
    assert normalize("+86 138 0013 8000", region="US").e164 == MOBILE


def test_bare_country_code_is_only_tried_for_the_home_country() -> None:
    # "41 44 668 18 00" would be Zürich with a "+"; from a CN trunk it is not guessed.
    assert normalize("41446681800").e164 is None


def test_region_of_the_number() -> None:
    assert normalize("+852 2123 4567").region == "HK"
    assert normalize("13800138000").region == "CN"
