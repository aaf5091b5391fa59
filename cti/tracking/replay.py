"""Replay a recorded AMI trace (raw bytes after login) through decoder and tracker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from cti.ami.codec import AmiDecodeError, AmiDecoder
from cti.tracking.events import CallSummary, DomainEventType
from cti.tracking.tracker import CallTracker

__all__ = ["replay", "run_replay"]


def replay(stream: BinaryIO, chunk_size: int = 65536) -> Iterator[CallSummary]:
    """Yield every call that ends in the trace, in the order they end.

    On a damaged stream the calls finished before the damage are yielded first,
    then :class:`AmiDecodeError` (or :class:`AmiTruncatedError` at the end)
    is raised naming the byte offset.
    """
    decoder = AmiDecoder()
    tracker = CallTracker()
    ended = DomainEventType.ENDED
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        try:
            messages = decoder.feed(chunk)
        except AmiDecodeError as exc:
            messages = exc.messages
            for msg in messages:
                for event in tracker.feed(msg):
                    if event.type is ended:
                        yield event.data["summary"]
            raise
        for msg in messages:
            for event in tracker.feed(msg):
                if event.type is ended:
                    yield event.data["summary"]
    decoder.finish()


def run_replay(path: Path, out: TextIO, err: TextIO, as_json: bool) -> int:
    """The ``cti replay`` command: 0, or 2 after a one-line error on ``err``.

    The calls that ended before a damaged or truncated spot are printed first;
    the error line names the byte offset of the damage.
    """
    calls = 0
    try:
        stream = path.open("rb")
    except OSError as exc:
        err.write(f"cti replay: cannot read {path}: {exc.strerror or exc}\n")
        return 2
    try:
        with stream:
            for summary in replay(stream):
                calls += 1
                if as_json:
                    out.write(json.dumps(summary.to_json_dict(), ensure_ascii=False) + "\n")
                else:
                    out.write(_line(summary) + "\n")
    except AmiDecodeError as exc:
        out.flush()
        plural = "s" if calls != 1 else ""
        err.write(f"cti replay: {path}: {exc} (after {calls} complete call{plural})\n")
        return 2
    except OSError as exc:  # the trace became unreadable half-way
        err.write(f"cti replay: error reading {path}: {exc.strerror or exc}\n")
        return 2
    return 0


def _line(s: CallSummary) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return (
        f"{s.linkedid} {s.outcome.value:<10} caller={s.caller_number or '-'}"
        f" name={s.caller_name or '-'} dnis={s.dnis or '-'} queue={s.queue or '-'}"
        f" agent={s.agent or '-'} wait={num(s.wait_s)} talk={num(s.talk_s)}"
        f" cause={'-' if s.hangup_cause is None else s.hangup_cause}"
    )
