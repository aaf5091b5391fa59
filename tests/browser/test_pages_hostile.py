"""Issue 14, the pages in a real browser (no Asterisk: ``cti serve`` with HTTP only).

Row 11 (page part): a pause reason from Asterisk containing ``"]`` must not break the
agent's state label. Rows 7 and 8: the pages run under their Content-Security-Policy
(no inline script, nothing from another origin), and the agent page sends its token in
the first WebSocket message, never in the URL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.serving import LocalServe


def watch(page: Any) -> list[str]:
    """Script errors and CSP violations the page reports."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))

    def on_console(msg: Any) -> None:
        if msg.location.get("url", "").endswith("/favicon.ico"):
            return  # the agent page has no icon
        if msg.type == "error" or "Content Security Policy" in msg.text:
            problems.append(f"console: {msg.text} ({msg.location.get('url')})")

    page.on("console", on_console)
    return problems


def test_row11_a_pause_reason_with_quotes_keeps_the_state_label(
    browser: Any, tmp_path: Path
) -> None:
    with LocalServe(tmp_path / "data") as serve:
        token = serve.token("agent", agent="1001")
        page = browser.new_page()
        problems = watch(page)
        seen: dict[str, Any] = {"messages": []}

        def fake_server(ws: Any) -> None:
            # The screen-pop socket is played here; the page and the REST calls are real.
            seen["url"] = ws.url
            ws.on_message(lambda message: seen["messages"].append(json.loads(message)))
            hello = {"type": "hello", "extension": "1001", "last_id": 0, "gap": False}
            ws.send(json.dumps(hello))
            state = {"type": "agent_state", "state": "paused", "paused_reason": 'lunch"], x'}
            ws.send(json.dumps(state))

        page.route_web_socket("**/ws/agent*", fake_server)
        page.goto(f"{serve.base_url}/agent")
        page.fill("#token", token)
        page.click("#login-btn")
        page.wait_for_selector("body[data-ws-ready='1']", timeout=10_000)
        from playwright.sync_api import expect

        expect(page.locator("#agent-state")).to_have_text('示忙（lunch"], x）', timeout=10_000)
        assert not problems, problems
        # Row 8: the token went in the first message, not in the URL.
        assert "token" not in seen["url"]
        assert seen["messages"][:1] == [{"token": token}]


def test_row7_swagger_ui_works_offline_under_the_csp(browser: Any, tmp_path: Path) -> None:
    with LocalServe(tmp_path / "data") as serve:
        page = browser.new_page()
        problems = watch(page)
        outside: list[str] = []
        page.on(
            "request",
            lambda req: None if req.url.startswith(serve.base_url) else outside.append(req.url),
        )
        page.goto(f"{serve.base_url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "CTI hotline service" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        assert not outside, outside
        assert not problems, problems
