"""Real call, real browser: the /wallboard shows a waiting caller appear, then go as an
agent the supervisor logs in from the page answers.

The hotline queue starts empty (no member: app_queue's ``joinempty = yes`` lets the caller
wait). A SIPp caller waits; the wallboard in Chromium shows 1 waiting caller. The
supervisor clicks 签入 for agent 1001 (a SIPp phone that answers after 2 s): the service
sends QueueAdd, Asterisk rings the phone, the agent answers, and the board goes back to 0.

Screenshots are kept as test artifacts in ``$CTI_TEST_ARTIFACTS/test_wallboard/`` when that
is set (CI), else in the test's ``tmp_path``: ``wallboard-1-waiting.png`` and
``wallboard-2-answered.png``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import cti_stack as stack
import httpx
import pytest

from tests.integration.conftest import CtiServe

pytestmark = pytest.mark.integration


def hang_up_everything() -> None:
    """End the calls left in Asterisk: SIPp stopped by a signal sends no BYE, and a
    leftover call would keep 1001's phone busy (no ring) or a caller in the queue for the
    next test. Browser and integration tests run one at a time (the devstack lock), so
    every call up now is this test's."""
    stack.asterisk_cli("channel request hangup all")
    stack.wait_for(lambda: "0 active calls" in stack.asterisk_cli("core show channels count"))


@pytest.fixture
def empty_hotline_and_phone_1001(shared_asterisk: None) -> Any:
    """Nobody in the hotline queue and no call up; agent 1001's phone (SIPp) ready to answer."""
    hang_up_everything()
    stack.devstack("reset-queues")
    phone = stack.start_sipp_agent("1001", "agent_answer.xml")
    yield
    hang_up_everything()
    stack._stop(phone)
    stack.remove_queue_member("1001")


def test_wallboard_shows_a_waiting_caller_until_an_agent_logged_in_from_the_page_answers(
    cti_serve: CtiServe, empty_hotline_and_phone_1001: None, browser: Any, artifacts: Path
) -> None:
    cti_serve.start()
    supervisor = cti_serve.token("stats:read", "agents:write")
    r = httpx.put(
        f"{cti_serve.base_url}/api/v1/agents/1001",
        json={"name": "王芳", "skills": ["hotline"], "wrapup_s": 0},
        headers={"Authorization": f"Bearer {supervisor}"},
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text

    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{cti_serve.base_url}/wallboard")
    page.fill("#token", supervisor)
    page.click("#login-btn")
    page.wait_for_selector("body[data-ws-ready='1']", timeout=10_000)
    hotline = "#queues [data-queue='hotline']"
    page.wait_for_selector(f"{hotline}[data-waiting='0']", timeout=10_000)
    assert page.inner_text("#agents tr[data-extension='1001'] td.state") == "未签入"

    caller: subprocess.Popen[bytes] = stack.run_sipp_caller(  # type: ignore[assignment]
        "13800138000", "张伟", scenario="caller_patient.xml", wait=False
    )
    try:
        page.wait_for_selector(f"{hotline}[data-waiting='1']", timeout=20_000)
        assert page.inner_text(f"{hotline} [data-figure='waiting']") == "1"
        assert page.inner_text(f"{hotline} [data-figure='longest']") != "—"
        # The API says the same as the page.
        body = cti_serve.get("/api/v1/queues/hotline", supervisor).json()
        assert body["waiting"] == 1 and body["agents"]["available"] == 0
        page.screenshot(path=str(artifacts / "wallboard-1-waiting.png"), full_page=True)

        # The supervisor logs agent 1001 in from the page.
        page.click("#ops-toggle")
        page.click("#agents tr[data-extension='1001'] button[data-action='login']")
        page.wait_for_selector(f"{hotline}[data-waiting='0']", timeout=30_000)
        page.wait_for_selector("#agents tr[data-extension='1001'][data-state='on_call']")
        assert page.inner_text(f"{hotline} [data-figure='longest']") == "—"
        # The queue's counts come in its own (coalesced) frame, the agent's row in another.
        page.wait_for_selector(f"{hotline} [data-count='on_call']:text-is('1')")
        page.screenshot(path=str(artifacts / "wallboard-2-answered.png"), full_page=True)

        # And logs it out again from the page (the call goes on; the queue loses its agent).
        page.click("#agents tr[data-extension='1001'] button[data-action='logout']")
        page.wait_for_selector("#agents tr[data-extension='1001'][data-state='logged_out']")
        page.wait_for_selector(f"{hotline} [data-count='logged_out']:text-is('1')")
    finally:
        stack._stop(caller)
    assert (artifacts / "wallboard-1-waiting.png").stat().st_size > 0
