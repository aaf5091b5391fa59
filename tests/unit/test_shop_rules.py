"""Shops' settings and confirmation requests: the checks on values, without a database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from cti.confirmations.schemas import ConfirmationIn, request_hash
from cti.confirmations.service import looks_like_id, new_public_id
from cti.customers.phones import PhoneNormalizer
from cti.shops import rules
from cti.shops.imports import LineRefused, parse_line


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/cti/hook",
        "http://10.0.0.5:8080/hook?shop=a",
        "https://[2001:db8::1]/hook",
    ],
)
def test_good_webhook_urls(url: str) -> None:
    assert rules.webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://shop.example.com/x", "http"),
        ("file:///etc/passwd", "http"),
        ("javascript:alert(1)", "http"),
        ("https:///nohost", "host"),
        ("https://u:p@shop.example.com/", "credentials"),
        ("https://u@shop.example.com/", "credentials"),
        ("https://shop.example.com/#frag", "fragment"),
        ("https://shop.example.com/a b", "spaces"),
        ("https://shop.example.com/\x00", "control"),
        ("https://shop.example.com:99999/", "valid URL"),
        ("https://shop.example.com:0/", "port 0"),
        ("https://shop.example.com/" + "a" * 2000, "2000"),
        ("shop.example.com/hook", "http"),
    ],
)
def test_bad_webhook_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        rules.webhook_url(url)


def test_windows_times_zones_caller_ids() -> None:
    assert rules.hhmm("00:00") == "00:00" and rules.hhmm("23:59") == "23:59"
    for bad in ("24:00", "9:00", "09:60", "0900", " 09:00"):
        with pytest.raises(ValueError, match="HH:MM"):
            rules.hhmm(bad)
    rules.window("09:00", "21:00")
    with pytest.raises(ValueError, match="before"):
        rules.window("21:00", "09:00")
    with pytest.raises(ValueError, match="before"):
        rules.window("09:00", "09:00")
    assert rules.timezone("Asia/Shanghai") == "Asia/Shanghai"
    for bad in ("Mars/Olympus", "../etc/passwd", "/etc/localtime", ""):
        with pytest.raises(ValueError):
            rules.timezone(bad)
    assert rules.caller_id("+864008001234") == "+864008001234"
    for bad in ("12", "+", "400-800-1234", "1" * 21):
        with pytest.raises(ValueError):
            rules.caller_id(bad)


def req(**over: Any) -> ConfirmationIn:
    body: dict[str, Any] = {
        "order_id": "E1",
        "phone": "13800138000",
        "amount": "2300.50",
        "item_count": 3,
        "reason": "high_amount",
    }
    return ConfirmationIn.model_validate({**body, **over})


def test_amounts() -> None:
    assert req(amount=2300.5).amount == Decimal("2300.5")
    assert req(amount="10000000").amount == Decimal("10000000")
    for bad in ("0", "-1", "10000000.01", "1.005", "NaN", "Infinity", "abc", True):
        with pytest.raises(ValidationError):
            req(amount=bad)


def test_the_canonical_request_ignores_how_it_is_written() -> None:
    a = request_hash("shop-a", "+8613800138000", req())
    assert a == request_hash("shop-a", "+8613800138000", req(amount=2300.5))
    assert a == request_hash("shop-a", "+8613800138000", req(amount="2300.5"))
    assert a != request_hash("shop-b", "+8613800138000", req())
    assert a != request_hash("shop-a", "+8613800138000", req(item_count=4))
    assert a != request_hash("shop-a", "+8613800138000", req(max_attempts=3))
    assert a != request_hash("shop-a", "+8613800138000", req(reason_text="big"))


def test_public_ids_are_opaque_and_checked_before_any_lookup() -> None:
    ids = {new_public_id() for _ in range(100)}
    assert len(ids) == 100 and all(looks_like_id(i) for i in ids)
    for bad in ("cfm_", "rec_" + "a" * 26, "cfm_" + "A" * 26, "cfm_" + "a" * 27, "cfm_" + "1" * 26):
        assert not looks_like_id(bad)


def test_do_not_call_lines() -> None:
    phones = PhoneNormalizer()
    assert parse_line("138 0013 8000", phones) == ("+8613800138000", "")
    assert parse_line("13800138000, 投诉 ", phones) == ("+8613800138000", "投诉")
    assert parse_line('{"phone": "13800138000", "reason": "r"}', phones) == (
        "+8613800138000",
        "r",
    )
    assert parse_line("  ", phones) is None and parse_line("# note", phones) is None
    for bad, why in (
        ("12345", "not a valid phone number"),
        ('{"phone": 1', "not valid JSON"),
        ('{"phone": "13800138000", "x": 1}', "x"),
        ("13800138000," + "r" * 201, "200"),
        ("1" * 1001, "longer"),
    ):
        with pytest.raises(LineRefused, match=why):
            parse_line(bad, phones)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://127.1/hook", "loopback"),  # the short spelling a resolver accepts
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.0.0.1/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
        ("http://10.0.0.5:8080/hook", "private"),
        ("https://192.168.1.10/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://[fd00::1]/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
    ],
)
def test_webhook_hosts_that_are_not_public_addresses_are_refused(url: str, kind: str) -> None:
    rules.webhook_url(url)  # a well-formed URL all the same
    with pytest.raises(ValueError, match=f"must not point to .*{kind}.*CTI_WEBHOOKS_ALLOW_PRIVATE"):
        rules.webhook_host(url, allow_private=False)
    rules.webhook_host(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/hook",  # a name: checked where it is resolved
        "https://203.0.114.7/hook",
        "https://[2001:4860:4860::8888]/hook",
        "http://localhost.example.com/hook",
    ],
)
def test_public_addresses_and_host_names_pass_the_literal_check(url: str) -> None:
    rules.webhook_host(url, allow_private=False)


def test_ip_literals_in_every_spelling_and_what_kind_they_are() -> None:
    assert str(rules.ip_literal("127.1")) == "127.0.0.1"
    assert str(rules.ip_literal("[::1]")) == "::1"
    assert str(rules.ip_literal("fe80::1%eth0")) == "fe80::1"
    assert rules.ip_literal("shop.example.com") is None
    assert rules.ip_literal("deadbeef") is None
    public = rules.ip_literal("8.8.8.8")
    assert public is not None and rules.non_public(public) is None
    cgnat = rules.ip_literal("100.64.0.1")
    assert cgnat is not None and rules.non_public(cgnat) == "a private address"
