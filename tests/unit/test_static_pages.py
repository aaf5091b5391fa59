"""The pages' shared script (cti/static/common.js), read as text: what a reviewer checks by eye.

The agent desk, the QA page and the wallboard take their helpers from common.js (the token
log-in, the API caller, the live WebSocket); these tests keep it loaded before each page's
own script, keep the helpers from being copied back into a page's own script, and keep the
token out of URLs in the one fetch wrapper and the one WebSocket they use.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "cti" / "static"
PAGES = {"agent.html": "agent.js", "qa.html": "qa.js"}
SCRIPTS = ["agent.js", "qa.js", "wallboard.js"]


def shared_helpers() -> list[str]:
    js = (STATIC / "common.js").read_text()
    exported = re.search(r"window\.CTI = Object\.freeze\(\{([^}]*)\}\)", js)
    assert exported, "common.js exports nothing"
    return [name.strip() for name in exported.group(1).split(",")]


@pytest.mark.parametrize(("html", "own"), PAGES.items())
def test_each_page_loads_the_shared_script_before_its_own(html: str, own: str) -> None:
    scripts = re.findall(r'<script src="([^"]+)"></script>', (STATIC / html).read_text())
    assert scripts == ["/static/common.js", f"/static/{own}"]


@pytest.mark.parametrize("own", SCRIPTS)
def test_no_page_script_defines_a_shared_helper_again(own: str) -> None:
    js = (STATIC / own).read_text()
    helpers = shared_helpers()
    assert {"$", "el", "text", "fmtTime", "client", "tokenLogin", "liveSocket"} <= set(helpers)
    for name in helpers:
        defined = (
            rf"(?:function\s+{re.escape(name)}\s*\(|(?:const|let|var)\s+{re.escape(name)}\s*=)"
        )
        assert not re.search(defined, js), f"{own} defines {name} again"
    # The log-in (and with it the API caller) is the shared one, and so is the log-out.
    assert "window.CTI.tokenLogin(" in js
    assert "fetch(" not in js, f"{own} calls the API around the shared wrapper"
    assert "new WebSocket(" not in js, f"{own} opens a WebSocket around the shared one"


def test_the_shared_fetch_wrapper_sends_the_token_in_a_header_only() -> None:
    js = (STATIC / "common.js").read_text()
    assert re.findall(r"fetch\(([^,]*),", js) == ["path"]
    assert re.findall(r"new WebSocket\(([^)]*)\)", js) == ["`${proto}://${location.host}${path}`"]
    assert "Authorization: `Bearer ${getToken()}`" in js
    assert "token=" not in js and "?" + "token" not in js
    assert not re.search(r"https?://", js)


def test_the_wallboard_loads_the_vendored_chart_library_then_the_shared_script() -> None:
    html = (STATIC / "wallboard.html").read_text()
    scripts = re.findall(r'<script src="([^"]+)"></script>', html)
    assert scripts == [
        "/static/vendor/uplot/uPlot.iife.min.js",
        "/static/common.js",
        "/static/wallboard.js",
    ]
    # Vendored with its licence, nothing fetched from elsewhere at run time.
    assert (STATIC / "vendor" / "uplot" / "LICENSE").read_text().startswith("The MIT License")
    assert not re.search(r"(?:src|href)=\"https?://", html)
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style


def test_the_wallboard_script_puts_no_html_and_the_chart_library_no_eval() -> None:
    js = (STATIC / "wallboard.js").read_text()
    assert "innerHTML" not in js
    vendor = (STATIC / "vendor" / "uplot" / "uPlot.iife.min.js").read_text()
    assert "eval(" not in vendor and "new Function" not in vendor
