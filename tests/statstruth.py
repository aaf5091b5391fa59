"""Queue figures as Asterisk's own records of a recorded trace give them (the ground truth).

queue_log (ENTERQUEUE, CONNECT, ABANDON, EXITWITHTIMEOUT, RINGNOANSWER, transfers,
COMPLETE*) gives the queue's calls; the CDR adds what the hotline dialplan did outside
app_queue: calls it connected to the preferred agent with ``Dial()`` (offered and
answered for the hotline, never in queue_log) and that agent's unanswered rings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.groundtruth import cdr_epoch, read_cdr, read_queue_log, same_agent

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
    """CONNECT holdtime; for a preferred-agent call, its Dial's ring time (CDR)."""
    talks: list[float] = field(default_factory=list)
    """Talk of every answered call, first answer to the caller's hang-up: queue_log's
    COMPLETECALLER/COMPLETEAGENT talk; for a transferred call (queue_log ends its talk at
    the transfer) the caller's last CDR end less CONNECT; for a preferred-agent call its
    Dial's billsec."""
    longest_wait: float | None = None
    direct_answered: list[str] = field(default_factory=list)
    """Linkedids of preferred-agent calls (no ENTERQUEUE): their figures come from the CDR."""
    agent_calls: Counter[str] = field(default_factory=Counter)
    ring_no_answer: Counter[str] = field(default_factory=Counter)
    """Per member name: queue_log RINGNOANSWER plus the preferred agent's unanswered Dials."""


def _member(channel: str) -> str:
    """``PJSIP/1003-00000034`` -> ``1003`` (queue_log's member name)."""
    return channel.split("/", 1)[-1].rsplit("-", 1)[0]


def _wait(q: QueueFigures, wait: float) -> None:
    q.longest_wait = wait if q.longest_wait is None else max(q.longest_wait, wait)


def queue_figures(trace: Path) -> dict[str, QueueFigures]:
    out: dict[str, QueueFigures] = {}
    truths = read_queue_log(trace.with_suffix(".queue_log"))
    transferred: Counter[str] = Counter()
    for line in trace.with_suffix(".queue_log").read_text(encoding="utf-8").splitlines():
        row = line.split("|")
        if len(row) >= 5 and row[4] in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            transferred[row[1]] += 1
    cdr_file = trace.with_suffix(".cdr.csv")
    cdr = read_cdr(cdr_file) if cdr_file.is_file() else []
    hung_up: dict[str, float] = {}
    for row in cdr:
        end = cdr_epoch(row["end"])
        hung_up[row["uniqueid"]] = max(end, hung_up.get(row["uniqueid"], end))
    for t in truths.values():
        q = out.setdefault(t.queue or "", QueueFigures())
        q.offered += 1
        for member, _ in t.ring_no_answer:
            q.ring_no_answer[member] += 1
        if t.wait is not None:
            _wait(q, t.wait)
        if t.outcome == "answered":
            assert t.wait is not None and t.agent is not None and t.connected_at is not None
            q.answered += 1
            q.transfers += transferred[t.callid]
            q.waits_answered.append(t.wait)
            q.agent_calls[t.agent] += 1
            if t.wait <= SL_THRESHOLD_S:
                q.answered_within += 1
            if t.transferred and t.callid in hung_up:
                q.talks.append(hung_up[t.callid] - t.connected_at)
            elif not t.transferred and t.talk is not None:
                q.talks.append(t.talk)
        elif t.outcome == "timeout":
            q.timeouts += 1
        else:
            q.abandoned += 1
            if t.wait is not None and t.wait <= SHORT_ABANDON_S:
                q.short_abandons += 1
    for row in cdr:
        if row["dcontext"] != "cti-hotline" or row["lastapp"] != "Dial":
            continue
        queue = row["userfield"].partition("queue=")[2].split("|")[0]
        q = out.setdefault(queue, QueueFigures())
        member = _member(row["dstchannel"])
        if row["disposition"] == "ANSWERED":
            ring = float(int(row["duration"]) - int(row["billsec"]))
            q.offered += 1
            q.answered += 1
            q.agent_calls[member] += 1
            q.direct_answered.append(row["uniqueid"])
            q.waits_answered.append(ring)
            q.talks.append(float(row["billsec"]))
            _wait(q, ring)
            if ring <= SL_THRESHOLD_S:
                q.answered_within += 1
        else:
            q.ring_no_answer[member] += 1
    return out


def check_totals(got: Mapping[str, Any], want: QueueFigures, wrapup_s: float = 0) -> None:
    """The API's ``total`` of one queue against Asterisk's records of the same calls.

    Counts are exact; SL of answered and of offered less short abandons exact to the
    API's 4 decimals; ASA, AHT (talk + the queue's wrap-up) and the longest wait within
    1 s (queue_log and the CDR keep whole seconds).
    """
    counts = ("offered", "answered", "abandoned", "short_abandons", "timeouts", "transfers")
    assert {k: got[k] for k in counts} == {k: getattr(want, k) for k in counts}
    if not want.answered:
        return
    assert got["answer_rate"] == round(want.answered / want.offered, 4)
    assert len(want.waits_answered) == want.answered
    assert got["asa_s"] == pytest.approx(sum(want.waits_answered) / want.answered, abs=1)
    assert got["service_level_of_answered"] == round(want.answered_within / want.answered, 4)
    assert got["service_level_of_offered"] == round(
        want.answered_within / (want.offered - want.short_abandons), 4
    )
    if len(want.talks) == want.answered:
        # Wrap-up follows queue calls only (app_queue's Wrapuptime), not the direct Dial.
        queued = want.answered - len(want.direct_answered)
        aht = (sum(want.talks) + wrapup_s * queued) / want.answered
        assert got["aht_s"] == pytest.approx(aht, abs=1)
    if want.longest_wait is not None:
        assert got["longest_wait_s"] == pytest.approx(want.longest_wait, abs=1)


def agent_row(body: Mapping[str, Any], member: str) -> dict[str, Any]:
    rows = [a for a in body["agents"] if same_agent(a["agent"], member)]
    assert len(rows) == 1, (member, body["agents"])
    return dict(rows[0])


def check_agents(body: Mapping[str, Any], want: QueueFigures) -> None:
    """Per agent: calls answered and rings let go, as queue_log (and the CDR) count them."""
    for member, calls in want.agent_calls.items():
        assert agent_row(body, member)["calls"] == calls, member
    for member, missed in want.ring_no_answer.items():
        assert agent_row(body, member)["ring_no_answer"] == missed, member
