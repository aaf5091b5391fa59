"""The dialplan side of the satisfaction survey agrees with the app (no Asterisk needed).

The real call is proven by tests/integration/test_csat.py; this catches a call
that would reach voicemail after its talk, a lost option, or an unchecked value.
"""

from __future__ import annotations

import re

from ivr.csat import ASK, GOODBYE, PROMPT_DIR, THANKS
from tests.unit.test_confirm_dialplan import DIALPLAN, contexts

PROMPTS = DIALPLAN.parent / "prompts" / "prompts.txt"


def hotline_text() -> str:
    return "\n".join(contexts()["cti-hotline"])


def test_the_queue_and_the_preferred_agent_let_the_caller_stay_after_the_agent() -> None:
    text = hotline_text()
    assert "Queue(${CTI_QUEUE},tc,,,${CTI_QUEUE_TIMEOUT},,cti-record)" in text
    assert "Dial(${CTI_PREFERRED},${CTI_PREFERRED_TIMEOUT},gtU(cti-record))" in text


def test_a_talked_call_goes_to_the_survey_never_to_the_overflow() -> None:
    lines = contexts()["cti-hotline"]
    text = "\n".join(lines)
    queue = text.index("Queue(")
    to_member = text.index('GotoIf($["${QUEUESTATUS}" = "CONTINUE"]?member)', queue)
    overflow = text.index("Goto(cti-hotline-overflow,s,1)", queue)
    assert to_member < overflow
    # After the overflow jump, the labels the talked calls go to: no way back into it.
    tail = text[overflow:]
    order = [
        "n(preferred),Set(CTI_CSAT_AGENT=${CTI_PREFERRED})",
        "n(member),Set(CTI_CSAT_AGENT=${MEMBERINTERFACE})",
        "n(talked),Set(CTI_TALK_ENDED=1)",
        'GotoIf($["${CTI_CSAT}" = "yes"]?cti-csat,s,1)',
        "n(hangup),Hangup()",
    ]
    positions = [tail.index(step) for step in order]
    assert positions == sorted(positions)
    assert 'GotoIf($["${DIALSTATUS}" = "ANSWER"]?preferred)' in text


def test_the_switch_is_cleared_before_the_agi_and_checked_after_it() -> None:
    text = hotline_text()
    assert text.index("Set(CTI_CSAT=)") < text.index("AGI(agi://${CTI_AGI_HOST}/hotline)")
    sanitize = "\n".join(contexts()["cti-sanitize"])
    assert "Set(CTI_CSAT=${REPLACE(CTI_CSAT,()[]{}:$,_)})" in sanitize
    m = re.search(r'REGEX\("(.*?)" \$\{CTI_CSAT\}\)\}" != "1"\]\?Set\(CTI_CSAT=no\)', sanitize)
    assert m is not None and m.group(1) == "^yes$"


def test_the_survey_context_runs_the_app_then_hangs_up() -> None:
    lines = contexts()["cti-csat"]
    assert lines[-2:] == ["same => n,AGI(agi://${CTI_AGI_HOST}/csat)", "same => n,Hangup()"]


def test_the_apps_prompts_are_built() -> None:
    names = {
        line.split("|", 1)[0]
        for line in PROMPTS.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert PROMPT_DIR == "cti"
    assert {ASK, THANKS, GOODBYE} <= names
