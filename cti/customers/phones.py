"""Caller numbers to one canonical key (E.164), with ``phonenumbers``.

Trunks, shop backends and agents write the same phone in many ways
(``+86 138 0013 8000``, ``008613800138000``, ``13800138000``, ``010-12345678``...);
the E.164 form is what ``customer_phones.e164`` stores and what the AGI looks up.
A number that is withheld, a service short code or simply not a phone number
gives ``e164=None``, never an exception: such a caller is a new customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

MAX_RAW_LENGTH = 64


class NumberKind(StrEnum):
    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_OR_MOBILE = "fixed_or_mobile"
    """Countries such as the US do not tell mobile and fixed numbers apart."""
    SERVICE = "service"
    """400 / 800 numbers, premium rate, shared cost, VoIP, pagers..."""
    SHORT = "short"
    """Carrier and bank service codes such as 10086 or 95555."""
    WITHHELD = "withheld"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class NormalizedNumber:
    e164: str | None
    kind: NumberKind
    region: str | None = None
    """ISO region of the number (``CN``, ``US``...), when known."""

    @property
    def known(self) -> bool:
        return self.e164 is not None


WITHHELD = NormalizedNumber(None, NumberKind.WITHHELD)
INVALID = NormalizedNumber(None, NumberKind.INVALID)

# What switches and Asterisk put in the caller ID when there is no number to show.
_WITHHELD_WORDS = frozenset(
    {
        "anonymous",
        "unknown",
        "restricted",
        "private",
        "withheld",
        "unavailable",
        "blocked",
        "no caller id",
        "asterisk",
    }
)
_SIP_URI = re.compile(r"^(?:sips?|tel):([^@;]*)", re.IGNORECASE)
# 110, 10086, 95555, 123456: service codes, never a customer's own line.
_SHORT_CODE = re.compile(r"^[1-9]\d{2,5}$")
# Chinese carrier-selection ("IP dial") prefixes: 17951, 12593, 17911, 17909...
# libphonenumber's CN metadata strips them itself before a mobile number
# (national_prefix_for_parsing ``1(?:[12]\d|79)\d\d``), but not before a fixed
# line's trunk 0 (``17911 010 12345678``), so that one case is handled here with
# the same pattern.
_CN_CARRIER_PREFIX_BEFORE_TRUNK = re.compile(r"^1(?:[12]\d|79)\d\d(?=0[1-9])")
_LOCAL_FIXED = re.compile(r"^[2-8]\d{6,7}$")

_KINDS = {
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.FIXED_LINE: NumberKind.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED_OR_MOBILE,
}


def normalize(raw: str | None, region: str = "CN", local_area_code: str = "") -> NormalizedNumber:
    """Canonical E.164 form of a caller number as any trunk or person writes it.

    ``region`` is where numbers without a country code are dialled from
    (``settings.default_region``). ``local_area_code`` (digits, without the
    trunk 0, e.g. ``10`` for Beijing) completes 7-8 digit fixed-line numbers
    that a city's trunk presents without their area code; empty leaves them
    unknown.
    """
    if raw is None:
        return WITHHELD
    text = raw.strip()[: MAX_RAW_LENGTH * 2]
    if not text:
        return WITHHELD
    sip = _SIP_URI.match(text)
    if sip:
        text = sip.group(1)
    if text.strip("<>").strip().lower() in _WITHHELD_WORDS:
        return WITHHELD
    digits = "".join(c for c in text if c.isdigit())
    if not digits or set(digits) == {"0"}:
        return WITHHELD
    if len(text) > MAX_RAW_LENGTH:
        return INVALID
    has_plus = text.startswith("+")
    if not has_plus and _SHORT_CODE.fullmatch(digits):
        return NormalizedNumber(None, NumberKind.SHORT, region)

    candidates = [text]
    if not has_plus and region == "CN":
        stripped = _CN_CARRIER_PREFIX_BEFORE_TRUNK.sub("", digits, count=1)
        if stripped != digits:
            candidates.append(stripped)
        if local_area_code and _LOCAL_FIXED.fullmatch(digits):
            candidates.insert(0, f"0{local_area_code}{digits}")
    country_code = str(phonenumbers.country_code_for_region(region))
    if not has_plus and digits.startswith(country_code):
        # A trunk that sends the country code without "+" or "00" (86 13800138000).
        candidates.append("+" + digits)
    for candidate in candidates:
        number = _parse(candidate, region)
        if number is not None:
            return number
    return INVALID


def _parse(text: str, region: str) -> NormalizedNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    kind = _KINDS.get(phonenumbers.number_type(number), NumberKind.SERVICE)
    return NormalizedNumber(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        kind,
        phonenumbers.region_code_for_number(number),
    )


class PhoneNormalizer:
    """The service's one normaliser: region and local area code from the settings, cached.

    Built once by the composition root and injected everywhere a number is
    turned into a key (routing, screen-pop, last agent, tickets, orders), so a
    caller is the same customer on every path.
    """

    def __init__(
        self, region: str = "CN", local_area_code: str = "", cache_size: int = 200_000
    ) -> None:
        self.region = region
        self.local_area_code = local_area_code
        self._cache: dict[str, NormalizedNumber] = {}
        self._cache_size = cache_size

    def __call__(self, raw: str | None) -> NormalizedNumber:
        if raw is None:
            return WITHHELD
        found = self._cache.get(raw)
        if found is None:
            found = normalize(raw, self.region, self.local_area_code)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[raw] = found
        return found

    def e164(self, raw: str | None) -> str | None:
        """The E.164 key of ``raw``, or None when it is not a customer's phone."""
        return self(raw).e164
