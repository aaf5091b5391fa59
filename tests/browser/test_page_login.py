"""The token log-in every page shares (cti/static/common.js), in a real browser.

No Asterisk: ``cti serve`` with HTTP only. On the agent desk, the QA page and the wallboard
a refused token says why and leaves the log-in box up; a token that works opens the page,
is kept for the tab across a reload, and the log-out button forgets it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving import LocalServe

# page, the scopes of a token that opens it, the page's own box, where the tab keeps the token
PAGES = [
    ("/agent", ("agent",), "#desk", "cti_token"),
    ("/qa", ("recordings:read",), "#qa", "cti_qa_token"),
    ("/wallboard", ("stats:read",), "#board", "cti_wallboard_token"),
]


@pytest.mark.parametrize(("path", "scopes", "main", "key"), PAGES)
def test_log_in_is_refused_then_kept_across_a_reload_until_log_out(
    browser: Any, tmp_path: Path, path: str, scopes: tuple[str, ...], main: str, key: str
) -> None:
    from playwright.sync_api import expect

    with LocalServe(tmp_path / "data") as serve:
        token = serve.token(*scopes, agent="1001" if "agent" in scopes else None)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{serve.base_url}{path}")

        page.fill("#token", "not-a-token")
        page.click("#login-btn")
        expect(page.locator("#login-error")).to_contain_text("登录失败", timeout=10_000)
        expect(page.locator("#login-box")).to_be_visible()
        expect(page.locator(main)).to_be_hidden()

        page.fill("#token", token)
        page.click("#login-btn")
        expect(page.locator(main)).to_be_visible(timeout=10_000)
        expect(page.locator("#login-box")).to_be_hidden()
        expect(page.locator("#login-error")).to_have_text("")

        page.reload()
        expect(page.locator(main)).to_be_visible(timeout=10_000)
        expect(page.locator("#logout")).to_be_visible()
        assert page.evaluate(f"sessionStorage.getItem({key!r})") == token

        page.click("#logout")
        expect(page.locator("#login-box")).to_be_visible(timeout=10_000)
        expect(page.locator(main)).to_be_hidden()
        assert page.evaluate(f"sessionStorage.getItem({key!r})") is None
        assert not errors, errors
