"""Issue 17 with real calls: the statistics API against Asterisk's own queue_log.

One batch of SIPp calls through the real Asterisk 22 and ``cti serve`` on PostgreSQL
covers every kind of call the figures tell apart: answered, the preferred agent's
direct answer (no ENTERQUEUE), a blind transfer, a short and a late abandon, a ring
no answer and a queue timeout. The API's figures for the hotline must then equal what
this run's queue_log (and the CDR, for the preferred agent's call) say of the same
calls: the counts exactly; service level, ASA, AHT and the longest wait within 1 s.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cti_stack as stack
import pytest

from tests.conftest import Devstack
from tests.fixtures.traces.make_traces import Ami, bridged_channel
from tests.integration.conftest import CtiServe
from tests.integration.test_routing import finished, push_order, queue_events
from tests.statstruth import QueueFigures, check_agents, check_totals, queue_figures

QUEUE_TIMEOUT_S = 20
"""The hotline's; the patient caller is let go after it. Longer than a member's ring
(15 s, dialplans/queues.conf) and the 2 s retry, so 1003 first rings unanswered."""
BUSY_S = QUEUE_TIMEOUT_S + 15
"""How long the two answered callers keep both agents busy: past the queue timeout
of the patient caller behind them, with room for their set-up."""
RETURNING = "13600002222"


@pytest.fixture
def phones(devstack: Devstack) -> Iterator[None]:
    """1001 and 1002 answer; 1003 rings and never answers. Only 1001 is logged in."""
    stack.devstack("reset-queues")
    stack.reset_logs()
    stack.add_queue_member("1001")
    stack.start_sipp_agent("1001", "agent_answer.xml")
    stack.start_sipp_agent("1002", "agent_answer.xml")
    stack.start_sipp_agent("1003", "agent_noanswer.xml")
    yield
    stack.cleanup()
    stack.devstack("reset-queues")


def _truth(tmp_path: Path) -> dict[str, QueueFigures]:
    """This run's queue_log and Master.csv, read as the recorded traces' are."""
    env = stack.devstack_env()
    shutil.copyfile(env["CTI_ASTERISK_QUEUE_LOG"], tmp_path / "batch.queue_log")
    shutil.copyfile(env["CTI_ASTERISK_CDR_CSV"], tmp_path / "batch.cdr.csv")
    return queue_figures(tmp_path / "batch.ami")


def _stored(serve: CtiServe, token: str) -> list[dict[str, Any]]:
    r = serve.get("/api/v1/calls", token, limit=100)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _call(number: str, seconds: float) -> Any:
    return stack.run_sipp_caller(
        number, "批量", scenario=stack.caller_with_patience(seconds), wait=False
    )


def test_the_api_figures_of_a_real_batch_equal_queue_log(
    pg_database: str,  # first: dropped after the service has stopped
    cti_serve: CtiServe,
    phones: None,
    tmp_path: Path,
) -> None:
    cti_serve.env["CTI_DATABASE_URL"] = pg_database
    cti_serve.env["CTI_ACD_HOTLINES"] = json.dumps({"hotline": {"queue_timeout": QUEUE_TIMEOUT_S}})
    cti_serve.start()
    began = datetime.now(UTC)
    stats = cti_serve.token("stats:read")
    push_order(cti_serve, cti_serve.token("orders:write"), "B-1", RETURNING, "回头客", None)

    # A returning caller is answered in the queue by 1001, then calls again and is
    # connected to 1001, their last agent, by the direct Dial (no ENTERQUEUE).
    assert stack.run_sipp_caller(RETURNING, "回头客").returncode == 0
    stack.wait_for(lambda: finished(cti_serve, stats, RETURNING), timeout=30)
    assert stack.run_sipp_caller(RETURNING, "回头客").returncode == 0
    second = stack.wait_for(
        lambda: len(got := finished(cti_serve, stats, RETURNING)) == 2 and got, timeout=30
    )[0]
    assert second["agent"] == "PJSIP/1001" and second["outcome"] == "answered"

    # 1001 answers a caller and hands them to 1002 (blind transfer).
    caller = _call("13600003333", 15)
    chan = bridged_channel("PJSIP/1001-")
    time.sleep(3)
    ami = Ami()
    try:
        reply = ami.action("BlindTransfer", Channel=chan, Context="cti-agents", Exten="1002")
    finally:
        ami.close()
    assert "Success" in reply, reply
    assert caller.wait(60) == 0

    # Both answering agents become busy; then 1003, whose phone never answers, logs
    # in. A patient caller rings it unanswered (RINGNOANSWER) until the queue lets them
    # go, to voicemail; behind them one caller gives up at once and one after a while.
    stack.add_queue_member("1002")
    busy = [_call("13600004444", BUSY_S), _call("13600005555", BUSY_S)]
    stack.wait_for(lambda: len(queue_events("CONNECT")) >= 4, timeout=30)  # P1, X, both
    stack.add_queue_member("1003")
    waiting = [_call("13600008888", QUEUE_TIMEOUT_S + 10)]
    time.sleep(1)
    waiting += [_call("13600006666", 2), _call("13600007777", 12)]
    for proc in busy + waiting:
        assert proc.wait(120) == 0

    placed = 8
    stack.wait_for(lambda: len(_stored(cti_serve, stats)) >= placed, timeout=60)
    truth = _truth(tmp_path)
    assert set(truth) == {"hotline"}, truth
    want = truth["hotline"]
    # The batch made every kind of call the figures tell apart.
    assert want.offered == placed
    assert len(want.direct_answered) == 1 and want.transfers == 1
    assert want.short_abandons == 1 and want.abandoned == 2
    assert want.timeouts == 1 and want.ring_no_answer["1003"] >= 1
    assert want.answered == 5

    window = {
        "from": (began - timedelta(minutes=5)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "interval": "1h",
    }
    r = cti_serve.get("/api/v1/queues/hotline/stats", stats, **window)
    assert r.status_code == 200, r.text
    body = r.json()
    check_totals(body["total"], want)
    check_agents(body, want)
    for key in ("offered", "answered", "abandoned", "timeouts", "transfers"):
        assert sum(i[key] for i in body["intervals"]) == body["total"][key]
