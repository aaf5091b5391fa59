"""Byte-level, incremental decoder for the Asterisk Manager Interface stream.

Pure code: bytes in, :class:`AmiMessage` values out, no I/O. It replaces the
chunk-wise parsing in panoramisk 1.4, which decodes every TCP read on its own
with ``errors="ignore"`` and so silently drops the bytes of a multi-byte UTF-8
character (a Chinese caller name such as 张伟) that a read happens to split.

Design choices:

* Bytes are buffered and a message is decoded only once its terminating blank
  line has arrived, so however the stream is split into reads the messages are
  identical.
* Invalid UTF-8 inside a message is decoded with ``errors="replace"``: the
  message is kept and the damage stays visible as U+FFFD. ``surrogateescape``
  would be lossless, but it only moves the crash downstream: lone surrogates
  cannot be encoded to UTF-8, so a JSON line, a PostgreSQL row or a WebSocket
  frame carrying such a caller name would fail far away from the cause.
* ``Key:`` with nothing after it is kept as an empty string. A line is split
  on its first ``": "`` (what Asterisk writes), or else on its first ``":"``.
* Asterisk 22 never sends a line without a colon inside a message (the old
  ``Response: Follows`` body of the Command action became ``Output:`` headers in
  AMI 2.x), and every message it sends starts with ``Event:`` or ``Response:``.
  Anything else means the stream is damaged (bytes lost or overwritten), so it
  raises :class:`AmiDecodeError` naming the byte offset instead of guessing.
* After an error the decoder stays usable: the damaged message is skipped and
  decoding resumes after its terminator, which suits a live connection that
  wants to log and carry on; a replay simply stops.
* Header keys are case-sensitive, exactly as Asterisk spells them; this keeps
  lookups at plain ``dict`` speed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NoReturn

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "AmiDecodeError",
    "AmiDecoder",
    "AmiMessage",
    "AmiTruncatedError",
]

DEFAULT_MAX_MESSAGE_SIZE: Final = 1 << 20

_BANNER_PREFIX: Final = b"Asterisk Call Manager/"
_CRLF2: Final = b"\r\n\r\n"
# Any blank line ends a message, with CRLF or bare LF line endings.
_ANY_TERMINATOR: Final = re.compile(rb"\r?\n\r?\n")
_FIRST_KEYS: Final = frozenset(("Event", "Response"))
_FIRST_PREFIXES: Final = ("Event: ", "Response: ")
# Endless arguments for map(str.split, lines, _SEPARATORS, _ONES): line.split(": ", 1).
_SEPARATORS: Final = itertools.repeat(": ")
_ONES: Final = itertools.repeat(1)


class AmiDecodeError(ValueError):
    """The stream is damaged at byte ``offset`` (counted from the first byte fed).

    ``messages`` holds the messages decoded before the damage in the same
    :meth:`AmiDecoder.feed` call, so a caller can still use them.
    """

    kind = "damaged"

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{self.kind} AMI stream at byte offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason
        self.messages: list[AmiMessage] = []


class AmiTruncatedError(AmiDecodeError):
    """The stream ended in the middle of a message starting at ``offset``."""

    kind = "truncated"


class AmiMessage(dict[str, str]):
    """One AMI event or response: its headers in order.

    ``msg[key]`` and ``msg.get(key)`` return the first value of a header;
    :meth:`getall` returns every value of a repeated one (``Output``,
    ``ChanVariable``...).

    A read-only ``dict``: lookups run at plain ``dict`` speed (every consumer
    reads a few headers of every event), and anything that would change it
    raises ``TypeError``, as for any other ``Mapping``.
    """

    __slots__ = ("_headers", "_lines", "offset")

    def __init__(self, headers: Iterable[tuple[str, str]], offset: int = 0) -> None:
        pairs = tuple(headers)
        self.offset = offset
        self._headers: tuple[tuple[str, str], ...] | None = pairs
        self._lines: list[str] | None = None
        _fill(self, pairs)

    @classmethod
    def _from_lines(cls, lines: list[str], pairs: list[list[str]], offset: int) -> AmiMessage:
        # The decoder keeps the header lines (str objects, which the cyclic GC
        # does not track) rather than one list per header: with thousands of
        # messages in flight per read that halves the decoding time.
        msg = _new_message(cls)
        msg.offset = offset
        msg._headers = None
        msg._lines = lines
        _fill(msg, pairs)
        return msg

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header line, in order, repeated keys included."""
        if self._headers is None:
            self._headers = tuple(_split_known(line) for line in self._lines or ())
        return self._headers

    def getall(self, key: str) -> list[str]:
        return [value for name, value in self.headers if name == key]

    @property
    def is_event(self) -> bool:
        return "Event" in self

    @property
    def is_response(self) -> bool:
        return "Response" in self

    @property
    def name(self) -> str | None:
        """The event name, or None for a response."""
        return self.get("Event")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AmiMessage):
            return self.headers == other.headers
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:  # type: ignore[override]  # read-only, so hashable
        return hash(self.headers)

    def __repr__(self) -> str:
        return f"AmiMessage(offset={self.offset}, headers={self.headers!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (AmiMessage, (self.headers, self.offset))

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("AmiMessage is read-only")

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only


_new_message = dict.__new__
_dict_init = dict.__init__


def _fill(msg: AmiMessage, pairs: Sequence[Sequence[str]]) -> None:
    """Put ``pairs`` into ``msg``, the first of a repeated key winning."""
    _dict_init(msg, pairs)  # type: ignore[arg-type]  # 2-item lists
    if len(msg) != len(pairs):
        dict.clear(msg)
        for key, value in pairs:
            dict.setdefault(msg, key, value)


def _parse(raw: bytes, offset: int) -> AmiMessage:
    """Decode one complete message (without its terminator)."""
    text = raw.decode("utf-8", "replace")
    lines = text.split("\r\n")
    if text.count("\n") != len(lines) - 1:  # some bare LF line endings
        lines = text.replace("\r\n", "\n").split("\n")
    # Fast path: split on the first ": " (what Asterisk writes) in one comprehension.
    pairs = [line.split(": ", 1) for line in lines]
    if min(map(len, pairs)) < 2:
        pairs = [_split_line(line, raw, offset, index) for index, line in enumerate(lines)]
    first = pairs[0][0]
    if first not in _FIRST_KEYS:
        raise AmiDecodeError(offset, f"message starts with {first[:40]!r}, not Event or Response")
    return AmiMessage._from_lines(lines, pairs, offset)


def _split_known(line: str) -> tuple[str, str]:
    """Split a line already validated by :func:`_split_line`."""
    pair = line.split(": ", 1)
    if len(pair) == 2:
        return pair[0], pair[1]
    key, _colon, value = line.partition(":")
    return key, value


def _split_line(line: str, raw: bytes, offset: int, index: int) -> list[str]:
    """Split on the first ": ", or else on the first ":"; anything else is damage."""
    pair = line.split(": ", 1)
    if len(pair) == 2:
        return pair
    key, colon, value = line.partition(":")
    if not colon or not key:
        raise AmiDecodeError(
            offset + _line_offset(raw, index), f"line without 'Key: value' {line[:40]!r}"
        )
    return [key, value]


def _line_offset(raw: bytes, index: int) -> int:
    pos = 0
    for _ in range(index):
        pos = raw.index(b"\n", pos) + 1
    return pos


class AmiDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, get messages back.

    Any split of the same byte stream gives identical messages (same headers,
    same offsets). Offsets count from the first byte ever fed, banner included.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.banner: str | None = None
        self.max_message_size = max_message_size
        self._pending = b""
        self._base = 0  # stream offset of _pending[0]
        self._banner_checked = False
        self._discarding = False  # skipping an oversized message up to its terminator
        self._rescan = False  # _pending may hold complete messages (after an error)

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet decoded."""
        return self._base

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Decode what ``data`` completes.

        On damage this raises :class:`AmiDecodeError` carrying the messages
        decoded before it; the damaged message is skipped, and ``feed(b"")``
        returns the complete messages that followed it in the same chunk.
        """
        if self._rescan:
            self._rescan = False
            buf = self._pending + data
        elif not data:
            return []
        elif self._pending:
            old = len(self._pending)
            buf = self._pending + data
            # Cheap early exit while a large message trickles in: look for a
            # terminator only in the new bytes (plus 2 bytes of overlap).
            start = old - 2 if old > 2 else 0
            if buf.find(b"\n\r\n", start) < 0 and buf.find(b"\n\n", start) < 0:
                self._pending = buf
                self._check_size()
                return []
        else:
            buf = bytes(data)
        if not self._banner_checked:
            buf = self._take_banner(buf)
            if not self._banner_checked:
                return []
        if self._discarding:
            buf = self._skip_damaged(buf)
            if self._discarding:
                return []
        return self._decode(buf)

    def finish(self) -> None:
        """Declare the end of the stream; raise if a message is incomplete."""
        if self._rescan and _ANY_TERMINATOR.search(self._pending):
            raise AmiDecodeError(
                self._base,
                "complete messages left undecoded after a "
                "damaged one; call feed(b'') before finish()",
            )
        if not self._banner_checked:
            self._take_banner(self._pending + b"\n")
        rest = self._pending
        if self._discarding:
            self._discarding = False
            self._pending = b""
            raise AmiTruncatedError(self._base, "stream ended inside a damaged message")
        stripped = rest.lstrip(b"\r\n")
        if stripped:
            offset = self._base + len(rest) - len(stripped)
            raise AmiTruncatedError(
                offset, f"stream ended inside a message ({len(stripped)} bytes, no blank line)"
            )
        self._base += len(rest)
        self._pending = b""

    # -- internals -----------------------------------------------------------

    def _take_banner(self, buf: bytes) -> bytes:
        head = buf[: len(_BANNER_PREFIX)]
        if not _BANNER_PREFIX.startswith(head):
            self._banner_checked = True
            return buf
        end = buf.find(b"\n")
        if end < 0:
            if len(head) == len(_BANNER_PREFIX) and len(buf) > 4096:
                self._banner_checked = True  # not a plausible banner line; let parsing judge
                return buf
            self._pending = buf
            return buf
        if len(head) < len(_BANNER_PREFIX):
            self._banner_checked = True
            return buf
        self.banner = buf[:end].decode("utf-8", "replace").rstrip("\r")
        self._banner_checked = True
        self._base += end + 1
        self._pending = b""
        return buf[end + 1 :]

    def _skip_damaged(self, buf: bytes) -> bytes:
        match = _ANY_TERMINATOR.search(buf)
        if match is None:
            keep = buf[-2:]
            self._base += len(buf) - len(keep)
            self._pending = keep
            return b""
        self._discarding = False
        self._base += match.end()
        return buf[match.end() :]

    def _check_size(self) -> None:
        if len(self._pending) > self.max_message_size:
            offset = self._base + len(self._pending) - len(self._pending.lstrip(b"\r\n"))
            size = len(self._pending)
            keep = self._pending[-2:]
            self._base += size - len(keep)
            self._pending = keep
            self._discarding = True
            raise AmiDecodeError(
                offset, f"message longer than {self.max_message_size} bytes without terminator"
            )

    def _decode(self, buf: bytes) -> list[AmiMessage]:
        out: list[AmiMessage] = []
        parts = buf.split(_CRLF2)
        rest = parts.pop()
        base = self._base
        try:
            base = self._decode_parts(parts, base, out)
            if b"\n\n" in rest or b"\n\r\n" in rest:
                consumed = self._decode_loose(rest, base, out, final=False) - base
                base += consumed
                rest = rest[consumed:]
        except AmiDecodeError as exc:
            self._recover(buf, exc)
            exc.messages = out
            raise
        self._base = base
        self._pending = rest
        try:
            self._check_size()
        except AmiDecodeError as exc:
            exc.messages = out
            raise
        return out

    def _decode_parts(self, parts: list[bytes], base: int, out: list[AmiMessage]) -> int:
        """Decode what lies between CRLF blank lines; return the offset after the last part.

        The usual message (CRLF line endings, every line ``Key: value``, no key
        twice, ``Event`` or ``Response`` first) is one ``dict`` over its lines
        split on their first ``": "``. Anything else -- bare LF line endings
        (which may hide more blank lines), a blank line before the message,
        ``Key:`` without a space, a repeated key, damage -- goes the long way.
        """
        new = _new_message
        fill = _dict_init
        split = str.split
        seps = _SEPARATORS
        ones = _ONES
        append = out.append
        for part in parts:
            lines = part.decode("utf-8", "replace").split("\r\n")
            msg = new(AmiMessage)
            try:
                fill(msg, map(split, lines, seps, ones))
            except ValueError:  # a line without ": "
                usual = False
            else:
                usual = (
                    len(msg) == len(lines)
                    and lines[0].startswith(_FIRST_PREFIXES)
                    and part.count(b"\n") == len(lines) - 1
                )
            if usual:
                msg.offset = base
                msg._headers = None
                msg._lines = lines
                append(msg)
            elif b"\n\n" in part or b"\n\r\n" in part:
                self._decode_loose(part, base, out, final=True)
            else:
                self._decode_one(part, base, out)
            base += len(part) + 4
        return base

    @staticmethod
    def _decode_one(part: bytes, base: int, out: list[AmiMessage]) -> None:
        if part[:1] in (b"\r", b"\n"):
            stripped = part.lstrip(b"\r\n")
            if not stripped:
                return
            base += len(part) - len(stripped)
            part = stripped
        out.append(_parse(part, base))

    def _decode_loose(self, part: bytes, base: int, out: list[AmiMessage], final: bool) -> int:
        """Decode a chunk using bare-LF blank lines; return the offset after the last one."""
        pos = 0
        for match in _ANY_TERMINATOR.finditer(part):
            # A blank line found by the regex may start with the "\n" that ends
            # the previous header line; the message body is everything before it.
            self._decode_one(part[pos : match.start()], base + pos, out)
            pos = match.end()
        if final:
            self._decode_one(part[pos:], base + pos, out)
            return base + len(part)
        return base + pos

    def _recover(self, buf: bytes, exc: AmiDecodeError) -> None:
        """Drop the damaged message so the decoder can go on after it."""
        local = exc.offset - self._base
        match = _ANY_TERMINATOR.search(buf, max(local, 0))
        if match is None:
            keep = buf[-2:]
            self._base += len(buf) - len(keep)
            self._pending = keep
            self._discarding = True
            return
        self._base += match.end()
        self._pending = b""
        # What follows is decoded by the next feed().
        self._pending = buf[match.end() :]
        self._rescan = bool(self._pending)
