"""The dialplan side of a confirmation call agrees with the app (no Asterisk needed).

The real call is proven by the integration suite; this catches a typo'd label, a
result the dialplan would throw away, or a context that stopped sanitising.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cti.confirmations.script import CallResult

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplans" / "extensions.conf"


def contexts() -> dict[str, list[str]]:
    """Context name -> its lines (comments and blank lines dropped)."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in DIALPLAN.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if m := re.fullmatch(r"\[([a-z0-9-]+)\]", line):
            current = found.setdefault(m.group(1), [])
        else:
            current.append(line)
    return found


def result_pattern() -> str:
    """The regular expression ``cti-confirm-sanitize`` checks CTI_CONFIRM_RESULT with."""
    for line in contexts()["cti-confirm-sanitize"]:
        if m := re.search(r'REGEX\("(\^\(.*?\)\$)" \$\{CTI_CONFIRM_RESULT\}', line):
            return m.group(1)
    raise AssertionError("no check of CTI_CONFIRM_RESULT")


def test_every_goto_label_exists_in_its_context() -> None:
    for name, lines in contexts().items():
        labels = {m.group(1) for line in lines for m in [re.search(r"n\((\w+)\)", line)] if m}
        targets = {t for line in lines for t in re.findall(r"\]\?(\w+)\)", line)}
        assert targets <= labels, (name, targets - labels)


def test_confirm_context_runs_the_app_and_checks_its_answer() -> None:
    lines = contexts()["cti-confirm"]
    text = "\n".join(lines)
    order = [
        "Set(CTI_DIRECTION=outbound)",
        "Set(CTI_CONFIRM_RESULT=)",
        "Gosub(cti-record,s,1(ivr))",
        "AGI(agi://${CTI_AGI_HOST}/confirm)",
        "Gosub(cti-confirm-sanitize,s,1)",
        '"${CTI_CONFIRM_RESULT}" != "transferred"',
        "StopMixMonitor()",
        "Set(QUEUE_PRIO=${CTI_CONFIRM_PRIORITY})",
        "Queue(${CTI_DEFAULT_QUEUE},t,,,${CTI_QUEUE_TIMEOUT_DEFAULT},,cti-record)",
        "Hangup()",
    ]
    positions = [text.index(step) for step in order]
    assert positions == sorted(positions)


def test_the_sanitizer_keeps_exactly_the_results_the_app_sets() -> None:
    lines = contexts()["cti-confirm-sanitize"]
    pattern = result_pattern()
    allowed = set(pattern.removeprefix("^(").removesuffix(")$").split("|"))
    assert allowed == {r.value for r in CallResult}
    assert "Set(CTI_CONFIRM_RESULT=failed)" in "\n".join(lines)


@pytest.mark.parametrize("value", ["confirmed", "not_confirmed", "transferred"])
def test_the_sanitizer_pattern_accepts_the_results(value: str) -> None:
    pattern = result_pattern()
    assert re.search(pattern, value)
    assert not re.search(pattern, value + "x")
