"""HTTP byte ranges and entity tags for playback (RFC 9110 sections 8.8.3, 13.1 and 14).

Pure functions: header text and the file's size in, what to send out. A browser's
audio element asks for ``bytes=N-`` to seek; one range is all it ever needs, so a
request for several ranges gets the whole file (200), which RFC 9110 allows, instead
of a ``multipart/byteranges`` body no player wants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int
    """Inclusive, as in ``Content-Range``."""

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(ValueError):
    """A well-formed single range that starts past the end (or asks for no bytes)."""


_SPEC = re.compile(r"[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to send, or None for the whole file.

    None when there is no header, another unit than bytes, several ranges, or a
    malformed one (a server ignores a Range it cannot use). Raises
    :class:`RangeNotSatisfiable` for a single range that selects no byte of the file.
    """
    if header is None:
        return None
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in specs:
        return None
    match = _SPEC.fullmatch(specs)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None  # invalid, not unsatisfiable: ignored
        if start >= size:
            raise RangeNotSatisfiable(f"the range starts past the end ({size} bytes)")
        return ByteRange(start, min(end, size - 1))
    if not last:
        return None  # "bytes=-"
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable("the range selects no bytes")
    return ByteRange(max(0, size - suffix), size - 1)


def strong_etag(sha256: str) -> str:
    """The file's SHA-256 names its bytes exactly: a strong validator."""
    return f'"{sha256}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison) or is ``*``: 304."""
    if if_none_match is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _tags(if_none_match))


def range_applies(if_range: str | None, etag: str, last_modified: str) -> bool:
    """``If-Range``: honour Range only for the same strong tag or the same date."""
    if if_range is None:
        return True
    value = if_range.strip()
    return value in (etag, last_modified)
