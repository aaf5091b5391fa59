"""AMI header values to Python values, shared by the call and agent trackers.

AMI sends every value as text and uses its own conventions (``<unknown>`` for
no caller id, C escapes in names, ``0`` for "never", ``HH:MM:SS`` durations);
they are decoded here once. Parsers return ``None`` (or the given default) for a
missing or garbled value and never raise: odd input from Asterisk is data, not
a bug of ours.
"""

from __future__ import annotations

import math

__all__ = [
    "SPECIAL_EXTENS",
    "clean_id",
    "clean_name",
    "dialled_exten",
    "duration_s",
    "epoch",
    "extension_of",
    "hotline_noop_number",
    "int_or",
    "interface_of",
    "interface_of_extension",
    "is_unknown_id",
    "paused_flag",
    "printable",
    "timestamp",
    "to_float",
    "to_int",
    "unescape_c",
]

# Extensions that are not a dialled number.
SPECIAL_EXTENS = frozenset(("", "s", "h", "i", "t", "T", "o", "a", "e", "fax", "failed"))
_UNKNOWN_IDS = frozenset(("", "<unknown>", "<Unknown>", "<UNKNOWN>"))
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_TRUE = frozenset(("1", "true", "yes", "on"))
# Characters that can forge a log line, move a terminal's cursor or flip text direction:
# C0/C1 controls and DEL, the Unicode line/paragraph separators, bidi embeddings/overrides/
# isolates. Whitespace controls become a space so words stay apart.
_UNPRINTABLE = {
    **{c: None for c in (*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F))},
    **{c: None for c in range(0x2066, 0x206A)},
    **{c: " " for c in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029)},
}


# -- caller id --------------------------------------------------------------------------


def is_unknown_id(value: str | None) -> bool:
    """AMI's spelling of "no caller id": empty or ``<unknown>`` (a missing header is not)."""
    return value is not None and value in _UNKNOWN_IDS


def clean_id(value: str | None) -> str | None:
    """A caller/connected id as Asterisk holds it, None when AMI says there is none."""
    return None if value is None or value in _UNKNOWN_IDS else value


def unescape_c(value: str) -> str:
    """Undo ``ast_escape_c`` (AMI's escaping of caller/connected names: ``O\\'Brien``)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_C_ESCAPES.get(nxt, nxt) if nxt else ch)
        else:
            out.append(ch)
    return "".join(out)


def printable(value: str) -> str:
    """``value`` without control characters, for text from outside kept or shown as text.

    Tabs and line breaks (CR, LF, NEL, U+2028/9) become spaces; other controls
    (NUL, ESC, DEL, C1, bidi overrides) are dropped; the ends are stripped.
    """
    return value.translate(_UNPRINTABLE).strip()


def clean_name(value: str | None) -> str | None:
    """``CallerIDName`` of a channel-state block: unescaped, printable, None if unknown/empty."""
    value = clean_id(value)
    return None if value is None else (printable(unescape_c(value)) or None)


def dialled_exten(value: str | None) -> str | None:
    """An ``Exten`` header as a dialled number, None for ``s``, ``h`` and friends."""
    exten = value or ""
    return None if exten in SPECIAL_EXTENS else exten


def hotline_noop_number(app_data: str) -> str | None:
    """The raw caller number of ``CTI hotline EXTEN from "NAME" <NUM>``, or None if not it.

    Our dialplan's first step logs the caller id unmangled: ``<>`` is no number,
    ``<<unknown>>`` a trunk that literally sent ``<unknown>`` (AMI's channel
    headers show both as ``<unknown>``).
    """
    if not app_data.startswith("CTI hotline ") or not app_data.endswith(">"):
        return None
    _, sep, number = app_data.rpartition('" <')
    return number[:-1] if sep else None


# -- channels, interfaces, extensions ------------------------------------------------------


def interface_of(channel_name: str) -> str:
    """``PJSIP/1001-0000000a`` -> ``PJSIP/1001``; ``Local/1001@x-0000;1`` -> ``Local/1001@x``."""
    name = channel_name.split(";", 1)[0]
    base, dash, _suffix = name.rpartition("-")
    return base if dash and base else name


def extension_of(interface: str | None, member_name: str | None = None) -> str | None:
    """``PJSIP/1001`` (or a queue member named ``1001``) -> the agent extension ``1001``."""
    for value in (interface, member_name):
        if not value:
            continue
        tail = value.rsplit("/", 1)[-1].split("@", 1)[0]
        if tail.isdigit():
            return tail
    return None


def interface_of_extension(extension: str, technology: str = "PJSIP") -> str:
    """``1001`` -> ``PJSIP/1001``, the device an agent extension rings."""
    return f"{technology}/{extension}"


# -- numbers and times -----------------------------------------------------------------------


def to_int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def int_or(value: str | None, default: int) -> int:
    number = to_int(value)
    return default if number is None else number


def to_float(value: str | None) -> float | None:
    """A finite number, or None (``nan``/``inf`` are garbage, not times or counts)."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def timestamp(value: str | None) -> float | None:
    """The ``Timestamp`` header (manager.conf ``timestampevents``): epoch seconds, µs precision."""
    return to_float(value)


def epoch(value: str | None) -> float | None:
    """``LastCall``/``LastPause``/``LoginTime``: epoch seconds, 0 meaning never."""
    number = to_float(value)
    return number if number is not None and number > 0 else None


def duration_s(value: str | None) -> float:
    """``CoreShowChannel`` ``Duration`` (``HH:MM:SS``) in seconds; 0 when unreadable."""
    if not value:
        return 0.0
    total = 0.0
    try:
        for part in value.split(":"):
            total = total * 60 + float(part)
    except ValueError:
        return 0.0
    return total if math.isfinite(total) else 0.0


def paused_flag(value: str | None) -> bool:
    """``Paused: 1`` (QueueMember*) or ``Paused: true`` (actions) -> True."""
    return (value or "").strip().lower() in _TRUE
