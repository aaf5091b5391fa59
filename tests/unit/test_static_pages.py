"""The pages' shared script (cti/static/common.js), read as text: what a reviewer checks by eye.

The agent desk and the QA page take their helpers from common.js; these tests keep it
loaded first on both pages, keep the helpers from being copied back into a page's own
script, and keep the token out of URLs in the one fetch wrapper both use.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "cti" / "static"
PAGES = {"agent.html": "agent.js", "qa.html": "qa.js"}


def shared_helpers() -> list[str]:
    js = (STATIC / "common.js").read_text()
    exported = re.search(r"window\.CTI = Object\.freeze\(\{([^}]*)\}\)", js)
    assert exported, "common.js exports nothing"
    return [name.strip() for name in exported.group(1).split(",")]


@pytest.mark.parametrize(("html", "own"), PAGES.items())
def test_each_page_loads_the_shared_script_before_its_own(html: str, own: str) -> None:
    scripts = re.findall(r'<script src="([^"]+)"></script>', (STATIC / html).read_text())
    assert scripts == ["/static/common.js", f"/static/{own}"]


@pytest.mark.parametrize("own", PAGES.values())
def test_no_page_script_defines_a_shared_helper_again(own: str) -> None:
    js = (STATIC / own).read_text()
    helpers = shared_helpers()
    assert {"$", "text", "fmtTime", "client"} <= set(helpers)
    for name in helpers:
        defined = (
            rf"(?:function\s+{re.escape(name)}\s*\(|(?:const|let|var)\s+{re.escape(name)}\s*=)"
        )
        assert not re.search(defined, js), f"{own} defines {name} again"
    assert "window.CTI.client(() => token)" in js
    assert "fetch(" not in js, f"{own} calls the API around the shared wrapper"


def test_the_shared_fetch_wrapper_sends_the_token_in_a_header_only() -> None:
    js = (STATIC / "common.js").read_text()
    assert re.findall(r"fetch\(([^,]*),", js) == ["path"]
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


def test_the_wallboard_script_uses_the_shared_helpers_and_no_eval() -> None:
    js = (STATIC / "wallboard.js").read_text()
    assert "window.CTI.client(() => token)" in js
    assert "fetch(" not in js and "innerHTML" not in js
    for name in shared_helpers():
        n = re.escape(name)
        assert not re.search(rf"(?:function\s+{n}\s*\(|const\s+{n}\s*=)", js), name
    vendor = (STATIC / "vendor" / "uplot" / "uPlot.iife.min.js").read_text()
    assert "eval(" not in vendor and "new Function" not in vendor
