"""Webhook signatures: ``X-CTI-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed message is ``"<t>.<body>"``: the timestamp is inside the MAC, so a receiver
that refuses old timestamps refuses replays, and the exact body bytes are signed (a
receiver verifies the raw request body, before parsing it). During a secret rotation
the header carries one ``v1`` per valid secret, and a receiver holding either one
verifies. Pure: no clock, no I/O; the caller passes the time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
"""Five minutes: room for clock skew and a slow network, too short to replay a capture."""
_MAX_HEADER = 4096


def _mac(secret: str, body: bytes, t: int) -> str:
    message = str(t).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, t: int, *, previous: str | None = None) -> str:
    """The header value for ``body`` sent at ``t``; with ``previous``, a second ``v1``.

    ``previous`` is the shop's old secret while it is still valid (rotation): a
    receiver that has not switched yet still verifies.
    """
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    parts = [f"t={int(t)}", f"{SCHEME}={_mac(secret, body, t)}"]
    if previous:
        parts.append(f"{SCHEME}={_mac(previous, body, t)}")
    return ",".join(parts)


def parse(header: str) -> tuple[int, list[str]] | None:
    """``(t, [v1 signatures])`` from a header value, or None when it is malformed."""
    if not header or len(header) > _MAX_HEADER:
        return None
    t: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if t is not None or not value.isascii() or not value.isdigit():
                return None
            t = int(value)
        elif key == SCHEME:
            signatures.append(value)
        # Other schemes are ignored: a receiver keeps working when a new one is added.
    if t is None or not signatures:
        return None
    return t, signatures


def verify(
    header: str,
    body: bytes,
    secrets: Iterable[str],
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether ``header`` signs ``body`` with one of ``secrets`` and is at most ``tolerance`` s old.

    The reference a shop's receiver follows (README, "Webhooks"): parse, refuse a
    timestamp too far from ``now`` either way (a replayed capture, or a skewed
    clock), then compare every ``v1`` with every secret in constant time.
    """
    parsed = parse(header)
    if parsed is None:
        return False
    t, signatures = parsed
    if abs(now - t) > tolerance:
        return False
    expected = [_mac(s, body, t) for s in secrets if s]
    # Every pair is compared, so the time taken does not tell which one matched.
    matched = False
    for candidate in signatures:
        for mac in expected:
            matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), mac.encode())
    return matched
