"""What a shop's settings may be: plain checks on values, no I/O.

Each check returns the value as stored or raises :class:`ValueError` with a reason a
shop's developer understands; the schemas turn that into a 422.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHOP_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""A shop's id: the name its tokens are bound to (``cti token create --shop``)."""
SHOP_ID_HINT = "1-64 letters, digits, '_', '.' or '-'"

WEBHOOK_URL_MAX = 2000
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CALLER_ID = re.compile(r"^\+?\d{3,20}$")
_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$")
# Printable ASCII without spaces: what a URL is once the shop has encoded it.
_URL_CHARS = re.compile(r"^[\x21-\x7e]+$")


def webhook_url(value: str) -> str:
    """An absolute http(s) URL without credentials or fragment."""
    if len(value) > WEBHOOK_URL_MAX:
        raise ValueError(f"at most {WEBHOOK_URL_MAX} characters")
    if not _URL_CHARS.fullmatch(value):
        raise ValueError("must be a URL without spaces or control characters (percent-encode)")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for a port out of range or not a number
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. https://shop.example.com/cti/webhook")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and proxies; the signature authenticates us.
        raise ValueError("must not carry credentials (user:password@); verify the signature")
    if parts.fragment or "#" in value:
        raise ValueError("must not have a fragment (#...)")
    if port == 0:
        raise ValueError("port 0 is not a port")
    return value


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def ip_literal(host: str) -> IpAddress | None:
    """``host`` as an IP address when it is one, in any spelling a resolver accepts
    (``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``[::1]``, ``fe80::1%eth0``), else None."""
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host) and any(c.isdigit() for c in host):
        try:
            # inet_aton is a parser (no I/O): the legacy forms getaddrinfo resolves too.
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def non_public(address: IpAddress) -> str | None:
    """What kind of address a webhook must not be sent to, or None for a public one.

    A shop's URL pointing into our own network would make us its proxy (SSRF): the
    loopback (our own services), the private ranges, link-local (cloud metadata at
    169.254.169.254), multicast and the unspecified address.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or not address.is_global:
        return "a private address"
    return None


def webhook_host(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook URL whose host is a non-public IP literal (ValueError says why).

    A host name is checked where it is resolved, before each delivery.
    """
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    address = ip_literal(host)
    kind = non_public(address) if address is not None else None
    if kind is not None:
        raise ValueError(
            f"must not point to {kind} ({address}): webhooks go to the shop's public "
            "server (an operator allows private addresses: CTI_WEBHOOKS_ALLOW_PRIVATE=true)"
        )


def hhmm(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise ValueError("give a time of day as HH:MM, 00:00 to 23:59, e.g. 09:00")
    return value


def window(start: str, end: str) -> None:
    """A calling window lies within one local day (``start`` before ``end``)."""
    if hhmm(start) >= hhmm(end):
        raise ValueError(f"window_start {start} must be before window_end {end} (same day)")


def timezone(value: str) -> str:
    """An IANA time zone name such as Asia/Shanghai."""
    if not _TZ_NAME.fullmatch(value):
        raise ValueError("give an IANA time zone name, e.g. Asia/Shanghai")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; e.g. Asia/Shanghai") from None
    return value


def caller_id(value: str) -> str:
    if not _CALLER_ID.fullmatch(value):
        raise ValueError("3 to 20 digits, optionally after a leading +, e.g. 4008001234")
    return value
