"""Asterisk's own records of a recorded trace: queue_log and CDR, the ground truth.

Every ``tests/fixtures/traces/<name>.ami`` was captured from the devstack with
``<name>.queue_log`` and ``<name>.cdr.csv`` of the same run. Unit, database and
API tests check what we computed against these readers, never against the
tracker's own output.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

CDR_FIELDS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
    "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
    "disposition", "amaflags", "uniqueid", "userfield",
)  # fmt: skip


# -- ground truth -------------------------------------------------------------------


@dataclass
class QueueTruth:
    """What queue_log says about one caller (callid = the caller channel's Uniqueid)."""

    callid: str
    queue: str | None = None
    entered_at: int | None = None
    outcome: str | None = None
    agent: str | None = None
    wait: int | None = None
    talk: int | None = None
    connected_at: int | None = None
    transferred: bool = False
    ring_no_answer: list[tuple[str, int]] = field(default_factory=list)
    """``RINGNOANSWER`` rows: (member name, ring time in ms), in order."""


def read_queue_log(path: Path) -> dict[str, QueueTruth]:
    """queue_log rows ``time|callid|queue|agent|event|data...`` folded per callid."""
    calls: dict[str, QueueTruth] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = line.split("|")
        if len(row) < 5 or row[1] in ("NONE", ""):
            continue
        at, callid, queue, agent, event, data = int(row[0]), row[1], row[2], row[3], row[4], row[5:]
        truth = calls.setdefault(callid, QueueTruth(callid))
        if event == "ENTERQUEUE":
            if truth.outcome != "answered":
                truth.queue, truth.entered_at = queue, at
        elif event == "CONNECT" and truth.outcome != "answered":
            truth.outcome, truth.agent, truth.queue = "answered", agent, queue
            truth.wait, truth.connected_at = int(data[0]), at
        elif event in ("COMPLETECALLER", "COMPLETEAGENT"):
            truth.talk = int(data[1])
        elif event in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            truth.transferred = True
        elif event == "ABANDON" and truth.outcome != "answered":
            truth.outcome, truth.wait = "abandoned", int(data[2])
        elif event in ("EXITWITHTIMEOUT", "EXITEMPTY") and truth.outcome != "answered":
            truth.outcome, truth.wait = "timeout", int(data[2])
        elif event == "RINGNOANSWER":
            truth.ring_no_answer.append((agent, int(data[0])))
    return {k: v for k, v in calls.items() if v.entered_at is not None}


def read_cdr(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [dict(zip(CDR_FIELDS, row, strict=False)) for row in csv.reader(fh) if row]


def cdr_epoch(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def same_agent(tracked: str | None, member_name: str | None) -> bool:
    """queue_log names the member by MemberName (log_membername_as_agent); we by Interface."""
    if tracked is None or member_name is None:
        return tracked == member_name
    return tracked == member_name or tracked.rsplit("/", 1)[-1] == member_name


NORMAL_CLEARING = 16
"""Q.850 cause 16 (``AST_CAUSE_NORMAL_CLEARING``)."""
NOT_DEFINED = 0
"""``AST_CAUSE_NOTDEFINED``: the channel hung up without a cause being set."""


def final_cdr_row(rows: list[dict[str, str]]) -> dict[str, str]:
    """The caller's CDR row that ended last (ties: the later start, then the later line).

    Asterisk writes a channel's forked rows together when it hangs up, so file
    order alone is not end order (ringall: the answered row comes between two
    cancelled ones).
    """
    indexed = list(enumerate(rows))
    return max(indexed, key=lambda ir: (ir[1]["end"], ir[1]["start"], ir[0]))[1]


def expected_cause(rows: list[dict[str, str]]) -> int:
    """The caller channel's hang-up cause, read from its CDR rows (see test_replay)."""
    final = final_cdr_row(rows)
    if final["lastapp"] == "Hangup":
        return int(final["lastdata"]) if final["lastdata"] else NORMAL_CLEARING
    if final["dstchannel"] and final["disposition"] == "ANSWERED":
        return NORMAL_CLEARING
    if final["lastapp"] == "Queue":
        return NOT_DEFINED
    pytest.fail(f"no rule for this CDR shape yet, extend expected_cause: {final}")
