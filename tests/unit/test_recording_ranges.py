"""Byte ranges and entity tags of recording playback (RFC 9110)."""

from __future__ import annotations

import pytest

from cti.recordings.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    none_match,
    parse_range,
    range_applies,
    strong_etag,
)

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-50", ByteRange(950, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the file: all of it
        ("bytes=990-5000", ByteRange(990, 999)),  # the end is clamped
        ("bytes=999-999", ByteRange(999, 999)),
        ("Bytes = 5 - 9 ", ByteRange(5, 9)),
    ],
)
def test_one_range_is_the_bytes_asked_for(header: str, want: ByteRange) -> None:
    got = parse_range(header, SIZE)
    assert got == want
    assert got is not None and got.content_range(SIZE) == f"bytes {want.start}-{want.end}/1000"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "bytes=0-1,5-9",  # several ranges: the whole file, not multipart
        "items=0-9",
        "bytes=9-0",  # invalid, so ignored
        "bytes=-",
        "bytes=a-b",
        "bytes=0x10-",
        "bytes 0-9",
        "bytes=+1-2",
    ],
)
def test_no_usable_range_means_the_whole_file(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=5000-6000", 1000), ("bytes=-0", 1000),
                         ("bytes=0-", 0), ("bytes=-10", 0)]
)  # fmt: skip
def test_a_range_past_the_end_is_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_etags_and_if_range() -> None:
    etag = strong_etag("ab" * 32)
    assert etag == f'"{"ab" * 32}"'
    assert none_match(etag, etag)
    assert none_match(f'"other", W/{etag}', etag)  # weak comparison, in a list
    assert none_match("*", etag)
    assert not none_match('"other"', etag)
    assert not none_match(None, etag)
    date = "Mon, 23 Nov 2026 09:00:00 GMT"
    assert range_applies(None, etag, date)
    assert range_applies(etag, etag, date)
    assert range_applies(date, etag, date)
    assert not range_applies(f"W/{etag}", etag, date)  # If-Range needs a strong match
    assert not range_applies('"other"', etag, date)
