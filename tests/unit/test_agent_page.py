"""The agent page's script, read as text: what a reviewer would check by eye."""

from __future__ import annotations

import re
from pathlib import Path

AGENT_JS = Path(__file__).resolve().parents[2] / "cti" / "static" / "agent.js"


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
    """Issue 14, row 8: the token goes in the first WebSocket message."""
    js = AGENT_JS.read_text()
    socket_urls = re.findall(r"new WebSocket\(([^;]*)\)", js)
    assert socket_urls and all("token" not in url and "?" not in url for url in socket_urls)
    assert "JSON.stringify(hello)" in js and "const hello = { token }" in js
