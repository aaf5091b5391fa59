"""Webhook signatures as a shop's receiver checks them: the right secret, the exact body, fresh."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cti.webhooks import signing
from cti.webhooks.signing import DEFAULT_TOLERANCE_S, parse, sign

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[..., bool]:
    """The verification example shops copy from README's "Webhooks" section, as printed."""
    section = README.read_text(encoding="utf-8").split("### Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README's Webhooks section has no Python example"
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)
    assert scope["TOLERANCE_S"] == DEFAULT_TOLERANCE_S
    return scope["verify"]  # type: ignore[no-any-return]


# Every test runs against the library's verify and against the README's copy.
@pytest.fixture(params=["cti.webhooks.signing", "README"])
def verify(request: pytest.FixtureRequest) -> Callable[..., bool]:
    return signing.verify if request.param == "cti.webhooks.signing" else readme_verify()


BODY = b'{"data":{"result":"confirmed"},"event_id":"e1","type":"confirmation.finished"}'
T = 1_790_000_000
NEW, OLD = "whsec_new", "whsec_old"


def test_the_header_is_t_and_the_hmac_of_t_dot_body() -> None:
    header = sign(NEW, BODY, T)
    want = hmac.new(NEW.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={want}"


def test_a_fresh_signature_verifies(verify: Callable[..., bool]) -> None:
    assert verify(sign(NEW, BODY, T), BODY, [NEW], now=T + 3)


def test_the_wrong_secret_does_not_verify(verify: Callable[..., bool]) -> None:
    assert not verify(sign(NEW, BODY, T), BODY, ["whsec_other"], now=T)
    assert not verify(sign(NEW, BODY, T), BODY, [], now=T)


@pytest.mark.parametrize(
    "tampered",
    [
        BODY.replace(b"confirmed", b"cancelled"),
        BODY + b" ",
        BODY[:-1],
        b"",
    ],
)
def test_a_tampered_body_does_not_verify(tampered: bytes, verify: Callable[..., bool]) -> None:
    assert not verify(sign(NEW, BODY, T), tampered, [NEW], now=T)


def test_a_replayed_old_signature_is_rejected(verify: Callable[..., bool]) -> None:
    header = sign(NEW, BODY, T)
    assert verify(header, BODY, [NEW], now=T + DEFAULT_TOLERANCE_S)
    # The same captured request sent again later: the signature is genuine, but stale.
    assert not verify(header, BODY, [NEW], now=T + DEFAULT_TOLERANCE_S + 1)
    assert not verify(header, BODY, [NEW], now=T + 86400)
    # A timestamp from the future (a skewed clock) is held to the same tolerance.
    assert not verify(header, BODY, [NEW], now=T - DEFAULT_TOLERANCE_S - 1)


def test_a_replay_cannot_move_the_timestamp_forward(verify: Callable[..., bool]) -> None:
    header = sign(NEW, BODY, T)
    later = T + 3600
    mac = header.split(",", 1)[1]
    assert not verify(f"t={later},{mac}", BODY, [NEW], now=later)


def test_during_rotation_either_secret_verifies(verify: Callable[..., bool]) -> None:
    header = sign(NEW, BODY, T, previous=OLD)
    t, signatures = parse(header) or (0, [])
    assert t == T and len(signatures) == 2
    assert verify(header, BODY, [NEW], now=T)  # a receiver that switched already
    assert verify(header, BODY, [OLD], now=T)  # one that has not yet
    assert not verify(header, BODY, ["whsec_other"], now=T)
    # After the rotation only the new secret signs.
    assert not verify(sign(NEW, BODY, T), BODY, [OLD], now=T)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={'0' * 64}",  # no timestamp
        f"t={T}",  # no signature
        f"t=abc,v1={'0' * 64}",
        f"t=-{T},v1={'0' * 64}",
        f"t={T},t={T},v1={'0' * 64}",
        f"t={T},v1=é",
        "t=" + "9" * 5000,
    ],
)
def test_a_malformed_header_does_not_verify(header: str, verify: Callable[..., bool]) -> None:
    assert not verify(header, BODY, [NEW], now=T)


def test_unknown_schemes_are_ignored(verify: Callable[..., bool]) -> None:
    header = sign(NEW, BODY, T) + ",v0=deadbeef"
    assert verify(header, BODY, [NEW], now=T)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign("", BODY, T)
