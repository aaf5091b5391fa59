"""The agent page's script, read as text: what a reviewer would check by eye."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "cti" / "static"
AGENT_JS = STATIC / "agent.js"
COMMON_JS = STATIC / "common.js"


def test_row11_the_agent_page_builds_no_css_selector_from_data() -> None:
    """Issue 14, row 11: a pause reason with ``"]`` broke a selector built from it.

    Every selector the page passes to the DOM is a fixed string; values from the
    server are compared as values (the browser test shows the label itself).
    """
    js = AGENT_JS.read_text()
    calls = re.findall(
        r"\.(?:querySelector(?:All)?|closest|matches)\(([^()]*(?:\([^()]*\))?)\)", js
    )
    assert calls, "the page uses no selectors at all?"
    for argument in calls:
        assert re.fullmatch(r'\s*"[^"$`+]*"\s*', argument), f"selector built from data: {argument}"


def test_row8_the_agent_page_never_puts_its_token_in_a_url() -> None:
    """Issue 14, row 8: the token goes in the first WebSocket message.

    The page opens its socket through the pages' shared one (common.js), with the token
    in the hello it sends first; the shared socket's URL is the path alone.
    """
    js = AGENT_JS.read_text()
    assert "new WebSocket(" not in js
    assert 'window.CTI.liveSocket("/ws/agent", {' in js
    assert "const hello = { token: token() };" in js
    common = COMMON_JS.read_text()
    socket_urls = re.findall(r"new WebSocket\(([^;]*)\)", common)
    assert socket_urls and all("token" not in url and "?" not in url for url in socket_urls)
    assert "const first = hello();" in common and "ws.send(JSON.stringify(first))" in common
