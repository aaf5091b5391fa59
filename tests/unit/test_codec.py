"""The incremental AMI decoder: splits, UTF-8, damage, limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.codec import AmiDecodeError, AmiDecoder, AmiMessage, AmiTruncatedError

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"

STREAM = (
    "Asterisk Call Manager/11.0.0\r\n"
    "Response: Success\r\nMessage: Authentication accepted\r\n\r\n"
    "Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1732350000.123456\r\n"
    "Channel: PJSIP/trunk-00000001\r\nCallerIDNum: +8613800138000\r\n"
    "CallerIDName: 张伟\r\nConnectedLineName: <unknown>\r\nAccountCode:\r\n"
    "Exten: 4008001234\r\nUniqueid: 1732350000.1\r\nLinkedid: 1732350000.1\r\n\r\n"
    "Response: Success\r\nActionID: 7\r\nOutput: line one\r\nOutput: line: two\r\n\r\n"
).encode()


def decode_in_chunks(data: bytes, cuts: list[int]) -> list[AmiMessage]:
    decoder = AmiDecoder()
    out: list[AmiMessage] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += decoder.feed(data[start:cut])
        start = cut
    out += decoder.feed(data[start:])
    decoder.finish()
    return out


def test_decodes_headers_in_order_with_banner_and_offsets() -> None:
    decoder = AmiDecoder()
    messages = decoder.feed(STREAM)
    decoder.finish()
    assert decoder.banner == "Asterisk Call Manager/11.0.0"
    assert [m.offset for m in messages] == [
        30,
        STREAM.index(b"Event: Newchannel"),
        STREAM.index(b"Response: Success\r\nActionID"),
    ]
    event = messages[1]
    assert event.is_event and not event.is_response
    assert event["CallerIDName"] == "张伟"
    assert event["AccountCode"] == ""  # panoramisk drops empty values
    assert event.headers[0] == ("Event", "Newchannel")
    response = messages[2]
    assert response.is_response
    assert response["Output"] == "line one"
    assert response.getall("Output") == ["line one", "line: two"]


def test_every_split_of_a_chinese_name_gives_the_same_messages() -> None:
    whole = decode_in_chunks(STREAM, [])
    for cut in range(len(STREAM) + 1):
        assert decode_in_chunks(STREAM, [cut]) == whole
    # byte by byte: every multi-byte character arrives in pieces
    assert decode_in_chunks(STREAM, list(range(len(STREAM)))) == whole
    assert whole[1]["CallerIDName"] == "张伟"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_arbitrary_splits_are_identical(cuts: list[int]) -> None:
    expected = decode_in_chunks(STREAM, [])
    got = decode_in_chunks(STREAM, cuts)
    assert got == expected
    assert [m.offset for m in got] == [m.offset for m in expected]


def test_bare_lf_line_endings_are_tolerated() -> None:
    data = b"Event: A\nKey: v\n\nEvent: B\r\nKey: w\r\n\nEvent: C\r\n\r\n"
    messages = decode_in_chunks(data, [])
    assert [dict(m) for m in messages] == [
        {"Event": "A", "Key": "v"},
        {"Event": "B", "Key": "w"},
        {"Event": "C"},
    ]
    assert [m.offset for m in messages] == [0, data.index(b"Event: B"), data.index(b"Event: C")]
    for cut in range(len(data) + 1):
        assert decode_in_chunks(data, [cut]) == messages


def test_offsets_stay_true_after_messages_with_bare_lf_endings() -> None:
    recorded = (TRACES / "answered.ami").read_bytes()
    expected = decode_in_chunks(recorded, [])
    # The first two messages with bare LF line endings, the rest as Asterisk wrote it.
    second_end = recorded.index(b"\r\n\r\n", recorded.index(b"\r\n\r\n") + 4) + 4
    data = recorded[:second_end].replace(b"\r\n", b"\n") + recorded[second_end:]
    for cuts in ([], [second_end // 2], [len(data) // 2]):
        decoder = AmiDecoder()
        messages: list[AmiMessage] = []
        start = 0
        for cut in [*cuts, len(data)]:
            messages += decoder.feed(data[start:cut])
            start = cut
        decoder.finish()
        assert [m.headers for m in messages] == [m.headers for m in expected]
        for msg in messages:
            key, value = msg.headers[0]
            assert data.startswith(f"{key}: {value}".encode(), msg.offset)
        assert messages[-1].offset == len(data) - (len(recorded) - expected[-1].offset)
        assert decoder.offset == len(data)


def test_messages_are_read_only() -> None:
    (msg,) = decode_in_chunks(b"Event: X\r\nKey: v\r\n\r\n", [])
    for change in (
        lambda: msg.__setitem__("Key", "w"),
        lambda: msg.__delitem__("Key"),
        lambda: msg.update(Key="w"),
        lambda: msg.setdefault("Other", "w"),
        lambda: msg.pop("Key"),
        lambda: msg.popitem(),
        lambda: msg.clear(),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert dict(msg) == {"Event": "X", "Key": "v"}
    assert msg == AmiMessage((("Event", "X"), ("Key", "v")))


def test_colon_without_space_and_first_value_wins() -> None:
    (msg,) = decode_in_chunks(b"Event: X\r\nKey:v1\r\nKey: v2\r\n\r\n", [])
    assert msg["Key"] == "v1"
    assert msg.getall("Key") == ["v1", "v2"]


def test_invalid_utf8_keeps_the_message_with_replacement_characters() -> None:
    # GBK bytes for 张 followed by a stray 0xff: not UTF-8
    (msg,) = decode_in_chunks(b"Event: X\r\nCallerIDName: \xd5\xc5\xff\r\nExten: 1\r\n\r\n", [])
    assert msg["CallerIDName"] == "\ufffd" * 3
    assert msg["Exten"] == "1"


def test_line_without_colon_is_damage_with_offset_and_earlier_messages() -> None:
    data = b"Event: A\r\n\r\nEvent: B\r\ngarbage line\r\n\r\nEvent: C\r\n\r\n"
    decoder = AmiDecoder()
    with pytest.raises(AmiDecodeError) as info:
        decoder.feed(data)
    assert info.value.offset == data.index(b"garbage")
    assert str(info.value.offset) in str(info.value)
    assert [m["Event"] for m in info.value.messages] == ["A"]
    # the decoder goes on after the damaged message
    assert [m["Event"] for m in decoder.feed(b"")] == ["C"]
    decoder.finish()


def test_message_not_starting_with_event_or_response_is_damage() -> None:
    data = b"Event: A\r\n\r\nent: Newchannel\r\nX: y\r\n\r\n"
    with pytest.raises(AmiDecodeError) as info:
        decode_in_chunks(data, [])
    assert info.value.offset == data.index(b"ent: New")


def test_truncated_stream_names_the_offset_of_the_partial_message() -> None:
    data = b"Event: A\r\n\r\nEvent: B\r\nKey: v\r\n"
    decoder = AmiDecoder()
    assert [m["Event"] for m in decoder.feed(data)] == ["A"]
    with pytest.raises(AmiTruncatedError) as info:
        decoder.finish()
    assert info.value.offset == data.index(b"Event: B")


def test_oversized_message_is_refused_and_decoding_resumes() -> None:
    decoder = AmiDecoder(max_message_size=1000)
    decoder.feed(b"Event: A\r\n\r\n")
    with pytest.raises(AmiDecodeError) as info:
        for _ in range(20):
            decoder.feed(b"Event: Big\r\nData: " + b"x" * 100)
    assert info.value.offset == len(b"Event: A\r\n\r\n")
    assert decoder.feed(b"\r\n\r\nEvent: After\r\n\r\n")[0]["Event"] == "After"
    decoder.finish()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_garbage_never_crashes(data: bytes, cuts: list[int]) -> None:
    decoder = AmiDecoder()
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        try:
            for msg in decoder.feed(data[start:cut]):
                assert msg.is_event or msg.is_response
        except AmiDecodeError as exc:
            assert 0 <= exc.offset <= len(data)
        start = cut
    try:
        decoder.finish()
    except AmiDecodeError as exc:
        assert 0 <= exc.offset <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(STREAM)))
def test_truncation_anywhere_is_clean(length: int) -> None:
    decoder = AmiDecoder()
    messages = decoder.feed(STREAM[:length])
    complete = decode_in_chunks(STREAM, [])
    assert messages == complete[: len(messages)]
    try:
        decoder.finish()
    except AmiTruncatedError as exc:
        assert exc.offset <= length
