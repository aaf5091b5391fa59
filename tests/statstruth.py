"""Queue figures as Asterisk's own records of a recorded trace give them (the ground truth).

queue_log (ENTERQUEUE, CONNECT, ABANDON, EXITWITHTIMEOUT, RINGNOANSWER, transfers,
COMPLETE*) gives the queue's calls; the CDR adds what the hotline dialplan did outside
app_queue: calls it connected to the preferred agent with ``Dial()`` (offered and
answered for the hotline, never in queue_log) and that agent's unanswered rings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.groundtruth import read_cdr, read_queue_log

SL_THRESHOLD_S = 20
SHORT_ABANDON_S = 5


@dataclass
class QueueFigures:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    timeouts: int = 0
    transfers: int = 0
    answered_within: int = 0
    waits_answered: list[float] = field(default_factory=list)
    talks: list[int] = field(default_factory=list)
    """COMPLETECALLER/COMPLETEAGENT talk of answered calls never transferred."""
    longest_wait: int | None = None
    direct_answered: list[str] = field(default_factory=list)
    """Linkedids of preferred-agent calls (no ENTERQUEUE): their wait is not in queue_log."""
    agent_calls: Counter[str] = field(default_factory=Counter)
    ring_no_answer: Counter[str] = field(default_factory=Counter)
    """Per member name: queue_log RINGNOANSWER plus the preferred agent's unanswered Dials."""


def _member(channel: str) -> str:
    """``PJSIP/1003-00000034`` -> ``1003`` (queue_log's member name)."""
    return channel.split("/", 1)[-1].rsplit("-", 1)[0]


def queue_figures(trace: Path) -> dict[str, QueueFigures]:
    out: dict[str, QueueFigures] = {}
    truths = read_queue_log(trace.with_suffix(".queue_log"))
    transferred: Counter[str] = Counter()
    for line in trace.with_suffix(".queue_log").read_text(encoding="utf-8").splitlines():
        row = line.split("|")
        if len(row) >= 5 and row[4] in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            transferred[row[1]] += 1
    for t in truths.values():
        q = out.setdefault(t.queue or "", QueueFigures())
        q.offered += 1
        for member, _ in t.ring_no_answer:
            q.ring_no_answer[member] += 1
        wait = t.wait
        if wait is not None:
            q.longest_wait = wait if q.longest_wait is None else max(q.longest_wait, wait)
        if t.outcome == "answered":
            assert t.wait is not None and t.agent is not None
            q.answered += 1
            q.transfers += transferred[t.callid]
            q.waits_answered.append(t.wait)
            q.agent_calls[t.agent] += 1
            if t.wait <= SL_THRESHOLD_S:
                q.answered_within += 1
            if not t.transferred and t.talk is not None:
                q.talks.append(t.talk)
        elif t.outcome == "timeout":
            q.timeouts += 1
        else:
            q.abandoned += 1
            if wait is not None and wait <= SHORT_ABANDON_S:
                q.short_abandons += 1
    cdr_file = trace.with_suffix(".cdr.csv")
    if cdr_file.is_file():
        for row in read_cdr(cdr_file):
            if row["dcontext"] != "cti-hotline" or row["lastapp"] != "Dial":
                continue
            queue = row["userfield"].partition("queue=")[2].split("|")[0]
            q = out.setdefault(queue, QueueFigures())
            member = _member(row["dstchannel"])
            if row["disposition"] == "ANSWERED":
                q.offered += 1
                q.answered += 1
                q.agent_calls[member] += 1
                q.direct_answered.append(row["uniqueid"])
            else:
                q.ring_no_answer[member] += 1
    return out
